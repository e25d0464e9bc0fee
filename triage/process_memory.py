"""Resident memory of this process, and handing freed memory back to the system.

Loading a model allocates more than it keeps (the triage model's fitted sklearn classifiers are dropped once
compiled; JSON and pickles are parsed through temporary objects). glibc keeps what was freed in its heap, so the
worker's resident size stays at the loading peak until ``malloc_trim`` returns it.
"""

from __future__ import annotations

import ctypes
import gc
import logging

log = logging.getLogger(__name__)


def resident_mb() -> float | None:
    """VmRSS in MB (Linux), None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc heaps. By default every thread that allocates may get its own (up to 8 per core);
    a server's thread pool then spreads its garbage over many heaps that each keep their free pages, and the
    worker grows for hours. Call before the threads start."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        log.debug("mallopt is not available here")


def return_freed_memory() -> None:
    """Collect garbage and give the heap's free pages back (a no-op where glibc is not the allocator)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim is not available here")
