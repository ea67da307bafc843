"""Host memory: freed memory kept in the process, so DRRN's activations are not faulted in afresh every layer;
whole-frame arithmetic in bands; and what a run may still allocate (a big picture is refused before the OOM
killer ends it).

Each layer on the CPU writes its 128-channel output to a new tensor of tens of MB (20 MB for a
320x240 frame in bf16, 76 MB for a 512-pixel tile). glibc serves blocks that large with a fresh
mmap and returns them with munmap: every layer then pays the kernel for zeroed pages (huge pages
or not) and every thread of the process for the TLB shootdown. With glibc told to take every block
from its heap and never to trim it, the same memory is reused frame after frame: the whole pipeline
1.26x as fast at 320x240 and 1.06x at 1280x720 (the model stage 1.27x and 1.12x) on a 2-core AMX
Xeon (docs/PERFORMANCE.md). The cost is that the heap keeps its peak (+200 MB resident at 320x240,
+420 MB at 1280x720), which stays flat however long the video.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterator
from pathlib import Path

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt's parameters (malloc.h)
# Whole-frame arithmetic outside the model (resizing, levels and PSNR, colour) runs in bands of rows of at most
# this many output pixels (4 Mpx: a 1080p frame x2 in 2 bands), so a big photo's transient copies stay small: the
# heap keeps its peak. A 12 MP photo x2 held float64 and float32 copies of its whole output, 1.3 GB more.
BAND_PIXELS = 1 << 22


def row_bands(height: int, width: int) -> Iterator[slice]:
    """The rows of a height x width output, in bands of at most BAND_PIXELS pixels (at least a row each)."""
    step = max(1, BAND_PIXELS // width)
    return (slice(r, min(r + step, height)) for r in range(0, height, step))


def keep_freed_memory() -> bool:
    """Tell glibc to serve every allocation from its heap and keep what is freed (-> whether it took);
    elsewhere (musl, macOS, Windows) nothing changes. Process-wide, and meant to be: called where a
    CPU model is built."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


MEMINFO, CGROUP = Path("/proc/meminfo"), Path("/sys/fs/cgroup")
UNLIMITED = 1 << 60  # cgroup v1's "no limit" is 2**63 rounded down to a page


def room_bytes() -> int | None:
    """The resident memory this process could reach before the OOM killer ends it: what it holds and what is still
    available (available_bytes); None where that cannot be read."""
    free = available_bytes()
    try:
        held = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return free
    return None if free is None else free + held


def available_bytes(meminfo: Path = MEMINFO, cgroup: Path = CGROUP) -> int | None:
    """What this process may still allocate before the kernel's OOM killer ends it without a word: the machine's
    available memory and free swap, or less where a container's memory limit (cgroup v2 or v1) is nearer, its
    inactive file cache counted as free as the kernel reclaims it. None where it cannot be read (not Linux)."""
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        free = (int(fields["MemAvailable"].split()[0]) + int(fields.get("SwapFree", "0 kB").split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        return None
    for limit, usage, stat, cache in (
        ("memory.max", "memory.current", "memory.stat", "inactive_file"),  # v2
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat", "total_inactive_file"),
    ):
        try:
            ceiling = (cgroup / limit).read_text().strip()
            used = int((cgroup / usage).read_text())
            stats = dict(line.split() for line in (cgroup / stat).read_text().splitlines() if len(line.split()) == 2)
        except (OSError, ValueError):
            continue
        if ceiling != "max" and int(ceiling) < UNLIMITED:
            free = min(free, int(ceiling) - used + int(stats.get(cache, 0)))
        break
    return max(free, 0)
