"""Numerics of drrn-stream: the DRRN model, its weights, colour, resizing, metrics and tiling."""

import os

# Ask PyTorch to back CPU tensors of 2 MB and more with transparent huge pages. Each DRRN layer
# allocates its 128-channel output afresh (39 MB for a 320x240 frame), and the kernel faults such
# memory in 4 KB at a time: with huge pages a unit runs ~1.2x faster on a 2-core CPU
# (docs/PERFORMANCE.md). PyTorch reads this once, at its first allocation, so it is set here,
# before any module of this package imports torch; a user's own setting wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
