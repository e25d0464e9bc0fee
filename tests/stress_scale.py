"""How much of each long robustness suite to run: all of it unless CI is short of time.

`.ci/run` sets ``JISHIBANG_STRESS_SCALE`` (0.1-1) from the time the earlier tiers took, so a slow machine runs
fewer kill cycles, lost-update trials and fuzzed cases instead of overrunning CI's limit and landing nothing.
Every suite prints the counts it ran. Unset (a developer's `make stress`), everything runs at full size."""

from __future__ import annotations

import os


def stress_scale() -> float:
    raw = os.environ.get("JISHIBANG_STRESS_SCALE", "").strip()
    if not raw:
        return 1.0
    value = float(raw)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"JISHIBANG_STRESS_SCALE must be in (0, 1], got {raw!r}")
    return value


def scaled(full: int, floor: int) -> int:
    """``full`` at scale 1, never fewer than ``floor``."""
    return max(floor, round(full * stress_scale()))
