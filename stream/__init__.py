"""drrn-stream: the video pipeline, the evaluation and training commands, and the CLI."""
