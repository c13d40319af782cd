"""The allocator setting for serving, in fresh processes, read from glibc's own counters
(``mallinfo2``): blocks of growing size (a batch larger than any before) are each mapped afresh
by default, and all come from the heap once it is set."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from scanflow.serve.allocator import keep_freed_memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")

_PROBE = """
import ctypes, sys
from scanflow.serve.allocator import keep_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def mapped(mb):
    before = libc.mallinfo2().hblks
    block = libc.malloc(mb * 2**20)
    n = libc.mallinfo2().hblks - before
    libc.free(block)
    return n

if sys.argv[1] == "tune":
    print(keep_freed_memory(), end=" ")
print(sum(mapped(mb) for mb in (4, 8, 16, 30)))
"""


def _probe(mode: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                         env={**clean, **env}, timeout=120, check=True)
    return out.stdout.strip()


@glibc
def test_after_it_a_large_block_comes_from_the_heap_instead_of_its_own_mapping():
    assert _probe("tune") == "True 0"


@glibc
def test_without_it_glibc_maps_each_block_larger_than_any_freed_before():
    assert _probe("leave") == "4"


@glibc
def test_the_users_own_malloc_settings_win():
    assert _probe("tune", MALLOC_MMAP_THRESHOLD_="1048576") == "False 4"  # theirs: 1 MiB


def test_it_answers_whether_it_set_anything():
    assert isinstance(keep_freed_memory(), bool)
