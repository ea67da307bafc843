"""Scoring DRRN under the SR literature's protocol: on image folders and on video frames."""
