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


def return_freed_memory() -> None:
    """Collect garbage and give the heap's free pages back (a no-op where glibc is not the allocator)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim is not available here")
