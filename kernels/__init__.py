"""Numerics of drrn-stream: the DRRN model, its weights, colour, resizing, metrics and tiling."""
