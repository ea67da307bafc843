"""glibc keeps DRRN's freed activations for the next layer, and what memory a run has left (kernels/host_memory.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from kernels import host_memory
from tests.cli_helpers import ROOT

PROBE = """
import ctypes, sys, torch
from kernels.host_memory import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "keep":
    assert keep_freed_memory()
mapped = libc.mallinfo2().hblkhd
layer = torch.empty(40 << 20, dtype=torch.uint8)  # a layer's output, as large as a 320x240 frame's in fp32
mapped, heap = libc.mallinfo2().hblkhd - mapped, libc.mallinfo2().arena
del layer
print(mapped >> 20, heap >> 20, libc.mallinfo2().arena >> 20)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
@pytest.mark.parametrize("policy", ["default", "keep"])
def test_a_freed_layer_stays_in_the_heap(policy):
    """By default glibc maps a block this large afresh and unmaps it when freed; kept, it comes from
    the heap, which keeps it after it is freed, for the next layer."""
    run = subprocess.run([sys.executable, "-c", PROBE, policy], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    mapped, heap, heap_after_free = map(int, run.stdout.split())
    if policy == "default":
        assert mapped >= 40, run.stdout
    else:
        assert mapped == 0 and heap >= 40 and heap_after_free >= 40, run.stdout


def test_the_memory_left_is_the_machines_or_its_containers(tmp_path):
    """What a run may still allocate: the machine's available memory and free swap, or a container's limit less its
    use (its inactive file cache reclaimed first, as the kernel does) where that is nearer; cgroup v2 and v1."""
    meminfo, cgroup = tmp_path / "meminfo", tmp_path / "cgroup"
    assert host_memory.available_bytes(meminfo, cgroup) is None  # not Linux: nothing said
    meminfo.write_text("MemTotal:  16000000 kB\nMemAvailable:    8000000 kB\nSwapFree:  1000000 kB\n")
    assert host_memory.available_bytes(meminfo, cgroup) == 9_000_000 * 1024
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{4 << 30}\n")
    (cgroup / "memory.current").write_text(f"{3 << 30}\n")
    (cgroup / "memory.stat").write_text(f"anon {2 << 30}\ninactive_file {1 << 29}\n")
    assert host_memory.available_bytes(meminfo, cgroup) == (1 << 30) + (1 << 29)
    (cgroup / "memory.max").write_text("max\n")
    assert host_memory.available_bytes(meminfo, cgroup) == 9_000_000 * 1024
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory/memory.limit_in_bytes").write_text("9223372036854771712\n")  # no limit
    (v1 / "memory/memory.usage_in_bytes").write_text(f"{1 << 30}\n")
    (v1 / "memory/memory.stat").write_text("cache 0\ntotal_inactive_file 0\n")
    assert host_memory.available_bytes(meminfo, v1) == 9_000_000 * 1024
    (v1 / "memory/memory.limit_in_bytes").write_text(f"{2 << 30}\n")
    assert host_memory.available_bytes(meminfo, v1) == 1 << 30
