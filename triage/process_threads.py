"""Threads of the numerical libraries in a serving process.

numpy's BLAS (OpenBLAS in the wheels) starts a thread per core and keeps them spinning after each matrix
product, waiting for the next one. An API worker calls a few small products per request (search, the danger
detector's neighbour memory) while its encoder and the other workers need the same cores; the spinning threads
took them. Measured with `jishibang bench api` (2 workers, 2 cores, one run after the other, 2026-12-05): server CPU per
suggestion 186 -> 102 ms, /v1/suggest at concurrency 8 13.9 -> 18.7 req/s and /v1/faq/ask 20.2 -> 30.4 req/s
with one BLAS thread per process. The ONNX encoder has its own thread setting (``JISHIBANG_EMBEDDING_THREADS``).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_limits: Any = None  # kept alive: threadpoolctl restores the old limits when its object is collected


def limit_blas_threads(threads: int = 1) -> dict[str, int]:
    """At most ``threads`` threads per BLAS / OpenMP pool in this process, now (the pools are already loaded with
    numpy); returns the pools and their new sizes."""
    global _limits
    from threadpoolctl import threadpool_info, threadpool_limits

    _limits = threadpool_limits(limits=threads)
    pools = {f"{p['internal_api']}:{p.get('prefix', '')}": p["num_threads"] for p in threadpool_info()}
    log.debug("numerical thread pools: %s", pools)
    return pools
