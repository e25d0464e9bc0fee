"""Platform sub-lines (企业分线): the platforms a case can be dispatched to are those with someone to answer,
an active enterprise user or an unrevoked enterprise API key of that platform."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import ApiKey, User


def platforms(factory: sessionmaker[Session]) -> dict[str, int]:
    """Platform -> how many accounts answer for it (users and keys), in name order."""
    counts: Counter[str] = Counter()
    with factory() as s:
        counts.update(p for (p,) in s.execute(select(User.platform).where(
            User.role == "enterprise", User.active.is_(True), User.platform.is_not(None))))
        counts.update(p for (p,) in s.execute(select(ApiKey.platform).where(
            ApiKey.role == "enterprise", ApiKey.revoked.is_(False), ApiKey.platform.is_not(None))))
    return {p: counts[p] for p in sorted(counts)}
