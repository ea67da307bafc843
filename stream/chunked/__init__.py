"""Chunked runs (`--chunk-seconds`): a long video cut at keyframes, each chunk restored through the
pipeline (stream.video) into a segment, resumable after any stop, spread over worker processes or
Ray tasks, and joined at the end. run.py is the entry; the pipeline is used through
stream.video.enhance.restoring_pipeline alone."""
