"""glibc keeps DRRN's freed activations for the next layer (kernels/host_memory.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

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
