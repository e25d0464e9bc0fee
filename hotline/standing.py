"""An entry's standing: what operators and workers said about it, as a bounded nudge to its search rank.

Votes. Feedback is credited to the entry it names (the one that was shown):
- positive: an operator copied it or marked it helpful; a worker found the answer helpful;
- negative: an operator marked it wrong; a worker found the answer unhelpful;
- ``shown`` is exposure: counted and reported, never a vote.

Posterior. An entry's helpful rate has a Beta prior centred on the global helpful rate ``mu`` (all votes on
all entries, Laplace-smoothed, kept within [0.1, 0.9]) with ``prior_strength`` pseudo-votes (15):
``Beta(mu*s + positive, (1-mu)*s + negative)``. Three votes move the posterior mean by at most
3/18 of the way to 0 or 1, so they barely move the rank.

Multiplier. The posterior mean ``p`` becomes a multiplier of the entry's fused (RRF) search score:
``1 + bound * z`` with ``z = (p - mu) / (1 - mu)`` above the global rate and ``(p - mu) / mu`` below it, so
``z`` is in [-1, 1] and the multiplier in ``[1 - bound, 1 + bound]`` = [0.95, 1.05] whatever the number of
votes. On the RRF scale (1/(61 + rank) per retriever) 5% is about three rank places in both retrievers:
feedback reorders near-ties, as the issue-type boost does, and cannot lift an unrelated entry over an
exact match.

Review flag. An entry is flagged for review when it has at least ``flag_min_votes`` (10) votes and the upper
end of the 95% credible interval of its helpful rate is below ``flag_below`` (0.5): with the prior
included, it is confidently unhelpful more often than not. Flagging lists it for staff; it does not hide it.

Cache. Counts live in memory; a search asks for :meth:`Standings.multipliers`, which at most once every
``refresh_seconds`` reads the feedback rows added since the last one it saw (an indexed id range, usually
empty) and rebuilds the small multiplier map only when something changed. A full re-count runs every
``recount_seconds`` so deletions (retention purges) are picked up, as is a row that a concurrent
PostgreSQL transaction committed late with a lower id. Feedback recorded by another API worker reaches
this one within ``refresh_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The beta quantile from scipy.special: scipy.stats would add ~50 MB to every API worker for one function.
from scipy.special import betaincinv
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import Feedback

POSITIVE = {("operator", "copied"), ("operator", "helpful"), ("worker", "helpful")}
NEGATIVE = {("operator", "wrong"), ("worker", "unhelpful")}
EXPOSURE = {("operator", "shown")}


@dataclass(frozen=True, slots=True)
class Standing:
    entry_id: int
    positive: int
    negative: int
    shown: int
    mean: float  # posterior mean of the helpful rate
    low: float  # 95% credible interval
    high: float
    multiplier: float
    flagged: bool

    @property
    def votes(self) -> int:
        return self.positive + self.negative

    def to_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "positive": self.positive, "negative": self.negative,
                "votes": self.votes, "shown": self.shown, "mean": round(self.mean, 4), "low": round(self.low, 4),
                "high": round(self.high, 4), "multiplier": round(self.multiplier, 4), "flagged": self.flagged}


class Standings:
    """Per-entry standing from the feedback log, cached in memory (see the module docstring)."""

    def __init__(self, factory: sessionmaker[Session], *, bound: float = 0.05, prior_strength: float = 15.0,
                 flag_min_votes: int = 10, flag_below: float = 0.5, credibility: float = 0.95,
                 refresh_seconds: float = 1.0, recount_seconds: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0.0 <= bound < 1.0:
            raise ValueError(f"bound must be in [0, 1), not {bound}")
        if prior_strength <= 0:
            raise ValueError(f"prior_strength must be positive, not {prior_strength}")
        self.factory = factory
        self.bound = bound
        self.prior_strength = prior_strength
        self.flag_min_votes = flag_min_votes
        self.flag_below = flag_below
        self.credibility = credibility
        self.refresh_seconds = refresh_seconds
        self.recount_seconds = recount_seconds
        self.clock = clock
        self._counts: dict[int, list[int]] = {}  # entry id -> [positive, negative, shown]
        self._last_id = 0
        self._multipliers: dict[int, float] = {}
        self._mu = 0.5
        self._checked_at: float | None = None
        self._counted_at: float | None = None
        self._lock = threading.Lock()

    # --- the cache ----------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> bool:
        """Read new feedback (throttled unless ``force``); True when the standings changed."""
        now = self.clock()
        if not force and self._checked_at is not None and now - self._checked_at < self.refresh_seconds:
            return False
        with self._lock:
            if not force and self._checked_at is not None and now - self._checked_at < self.refresh_seconds:
                return False  # another thread just did it
            self._checked_at = now
            if self._counted_at is None or now - self._counted_at >= self.recount_seconds:
                self._counts, self._last_id = {}, 0
                self._counted_at = now
                changed = True
            else:
                changed = False
            q = (select(Feedback.id, Feedback.source, Feedback.event, Feedback.entry_id)
                 .where(Feedback.id > self._last_id, Feedback.entry_id.is_not(None)).order_by(Feedback.id))
            with self.factory() as s:
                rows = list(s.execute(q))
                if not rows and changed:
                    self._last_id = int(s.scalar(select(func.max(Feedback.id))) or 0)
            for fid, source, event, entry_id in rows:
                slot = self._slot((source, event))
                if slot is not None:
                    self._counts.setdefault(int(entry_id), [0, 0, 0])[slot] += 1
                    changed = True
                self._last_id = max(self._last_id, int(fid))
            if changed:
                self._rebuild()
            return changed

    @staticmethod
    def _slot(kind: tuple[str, str]) -> int | None:
        if kind in POSITIVE:
            return 0
        if kind in NEGATIVE:
            return 1
        if kind in EXPOSURE:
            return 2
        return None

    def _rebuild(self) -> None:
        pos = sum(c[0] for c in self._counts.values())
        neg = sum(c[1] for c in self._counts.values())
        self._mu = min(max((pos + 1) / (pos + neg + 2), 0.1), 0.9)
        # One reference assignment: searches read either the old map or the new one.
        self._multipliers = {eid: self._multiplier(c[0], c[1]) for eid, c in self._counts.items() if c[0] or c[1]}

    def _posterior(self, positive: int, negative: int) -> tuple[float, float]:
        s = self.prior_strength
        return self._mu * s + positive, (1 - self._mu) * s + negative

    def _multiplier(self, positive: int, negative: int) -> float:
        a, b = self._posterior(positive, negative)
        p, mu = a / (a + b), self._mu
        z = (p - mu) / (1 - mu) if p >= mu else (p - mu) / mu
        return 1.0 + self.bound * max(-1.0, min(1.0, z))

    # --- what searches and staff read ---------------------------------------------------------------

    def multipliers(self) -> dict[int, float]:
        """Entry id -> multiplier of its fused search score (entries without votes are absent: 1.0)."""
        self.refresh()
        return self._multipliers

    @property
    def global_rate(self) -> float:
        return self._mu

    def standing(self, entry_id: int) -> Standing:
        self.refresh()
        with self._lock:  # a refresh may be filling the counts
            positive, negative, shown = self._counts.get(entry_id, [0, 0, 0])
        return self._standing(entry_id, positive, negative, shown)

    def _standing(self, entry_id: int, positive: int, negative: int, shown: int) -> Standing:
        a, b = self._posterior(positive, negative)
        tail = (1 - self.credibility) / 2
        low, high = float(betaincinv(a, b, tail)), float(betaincinv(a, b, 1 - tail))
        flagged = positive + negative >= self.flag_min_votes and high < self.flag_below
        return Standing(entry_id, positive, negative, shown, a / (a + b), low, high,
                        self._multiplier(positive, negative), flagged)

    def all(self) -> list[Standing]:
        """Every entry with feedback, most voted first."""
        self.refresh()
        with self._lock:
            counts = [(eid, *c) for eid, c in self._counts.items()]
        out = [self._standing(*row) for row in counts]
        out.sort(key=lambda s: (-s.votes, -s.shown, s.entry_id))
        return out

    def flagged(self) -> list[Standing]:
        """Entries confidently unhelpful (see the module docstring), lowest credible upper bound first."""
        out = [s for s in self.all() if s.flagged]
        out.sort(key=lambda s: (s.high, s.entry_id))
        return out

    def rule(self) -> dict[str, Any]:
        """The rule in words and numbers, for the API and the staff page."""
        return {
            "prior": f"Beta centred on the global helpful rate ({self._mu:.3f}) with {self.prior_strength:g} pseudo-votes",
            "positive": sorted(f"{s}:{e}" for s, e in POSITIVE), "negative": sorted(f"{s}:{e}" for s, e in NEGATIVE),
            "exposure": sorted(f"{s}:{e}" for s, e in EXPOSURE),
            "multiplier_bounds": [round(1 - self.bound, 4), round(1 + self.bound, 4)],
            "applied_to": "the fused (RRF) score of /v1/suggest and /v1/faq/ask searches; calibrated scores and the "
                          "abstain decision are computed without it",
            "flag": f"at least {self.flag_min_votes} votes and the upper end of the {self.credibility:.0%} credible "
                    f"interval of the helpful rate below {self.flag_below:g}",
            "global_rate": round(self._mu, 4), "prior_strength": self.prior_strength,
            "flag_min_votes": self.flag_min_votes, "flag_below": self.flag_below,
        }
