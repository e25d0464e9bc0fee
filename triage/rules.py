"""Regex cue matching shared by urgency, deadline and referral rules."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def first_match(patterns: list[str] | tuple[str, ...], text: str) -> str | None:
    """The text matched by the first pattern that matches, else None."""
    for p in patterns:
        m = _compiled(str(p)).search(text)  # YAML reads a bare 120 as a number
        if m:
            return m.group(0)
    return None
