"""Entry slugs made from titles: the title's pinyin (pypinyin, without tones), lower-case words joined by
hyphens, e.g. "骑手押金不退怎么办" -> "qi-shou-ya-jin-bu-tui-zen-me-ban". Staff may edit it before saving."""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 80  # the schema allows 120; a longer title is cut at a syllable
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str) -> str:
    """A slug for ``title`` that matches the entry schema's pattern (``entry-<hash>`` when nothing is left)."""
    from pypinyin import Style, lazy_pinyin  # its dictionaries load on first use, not at import

    words: list[str] = []
    for part in lazy_pinyin(title or "", style=Style.NORMAL, errors="default"):
        words += [w for w in _NOT_SLUG.split(part.lower().replace("ü", "v")) if w]
    slug = ""
    for w in words:
        candidate = f"{slug}-{w}" if slug else w
        if len(candidate) > MAX_LENGTH:
            break
        slug = candidate
    if len(slug) < 3:
        digest = hashlib.sha1((title or "").encode()).hexdigest()[:8]
        slug = f"entry-{slug}-{digest}" if slug else f"entry-{digest}"
    return slug


def numbered(base: str, n: int) -> str:
    """``base`` with a number that makes it unique, still within the schema's length."""
    suffix = f"-{n}"
    return base[:120 - len(suffix)].rstrip("-") + suffix
