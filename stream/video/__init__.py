"""The video pipeline: source -> model worker -> sink, and `enhance_file`, which wires them for one file."""
