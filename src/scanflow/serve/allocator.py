"""glibc's allocator set for serving tensors: memory a request frees is kept for the next one.

glibc serves an allocation above its *mmap threshold* with a fresh ``mmap`` and unmaps it when
it is freed; the threshold starts at 128 KiB and rises only to the largest such block freed so
far, and a heap gives memory freed at its top back to the OS past the *trim threshold* (twice
the mmap threshold). A model's activations for a batch are megabytes (a batch of 64 digits
through the demo's CNN: 6.4 MB per feature map), so requests keep mapping fresh pages and
faulting them in. :func:`keep_freed_memory` fixes both thresholds once for the process: blocks
up to 32 MiB come from the heap, and a heap keeps up to 64 MiB free at its top. On this
project's 2-core machine a batch of 64 took 28–32 ms at p50 over HTTP with glibc's defaults and
19–21 ms with this (``benchmarks/serve_latency.py``, three A/B pairs).

It is a no-op off glibc (macOS, musl) and when the user set ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` themselves (their setting wins).

    >>> isinstance(keep_freed_memory(), bool)
    True
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform

log = logging.getLogger(__name__)

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

#: Allocations up to this size come from the heap (glibc's largest allowed value on 64-bit).
MMAP_THRESHOLD = 32 * 2**20
#: Free memory a heap keeps at its top before giving it back to the OS.
TRIM_THRESHOLD = 64 * 2**20

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once); whether they were set."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not done:
        log.debug("scanflow: glibc refused the allocator thresholds; keeping its defaults")
    return done
