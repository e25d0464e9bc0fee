"""Referral targets ranked by the rules in ``triage/data/referral_rules.yaml``.

The rules are data so staff can read and change them; this module only evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triage.danger import Danger
from triage.entities import Entities
from triage.lexicon import load_yaml
from triage.rules import first_match
from triage.situation import situation


@dataclass(frozen=True, slots=True)
class Referral:
    target: str
    name: str
    contact: str
    reason: str
    evidence: list[str] = field(default_factory=list)
    score: float = 0.0


def targets() -> dict[str, dict[str, str]]:
    return dict(load_yaml("referral_rules.yaml")["targets"])


def rank(
    scores: dict[str, float],
    normalised: str,
    entities: Entities,
    urgency: str,
    danger: Danger | None = None,
    limit: int = 4,
) -> list[Referral]:
    """``scores``: issue type -> score for the types considered present (labels and near-misses);
    ``danger``: the danger-now verdict (rules with ``danger_any`` fire only for those responses)."""
    data = load_yaml("referral_rules.yaml")
    best: dict[str, tuple[float, dict]] = {}
    response = danger.response if danger is not None else None
    who = situation(normalised).counterparty
    for rule in data["rules"]:
        if rule["issue_types"] == ["*"]:
            matching = [max(scores.values(), default=1.0) or 1.0]
        else:
            matching = [scores[t] for t in rule["issue_types"] if t in scores]
        if not matching:
            continue
        if rule.get("urgency") and urgency not in rule["urgency"]:
            continue
        if rule.get("danger_any") and response not in rule["danger_any"]:
            continue
        if rule.get("no_danger") and response is not None:
            continue
        if rule.get("counterparty_any") and not set(rule["counterparty_any"]) & who:
            continue
        if rule.get("counterparty_none") and set(rule["counterparty_none"]) & who:
            continue
        if rule.get("cues_all") and not all(first_match([c] if isinstance(c, str) else c, normalised)
                                            for c in rule["cues_all"]):
            continue
        if rule.get("cues_any") and not first_match(rule["cues_any"], normalised):
            continue
        if rule.get("cues_none") and first_match(rule["cues_none"], normalised):
            continue
        if rule.get("roles_any") and not set(rule["roles_any"]) & set(entities.roles):
            continue
        if rule.get("platforms_any") and not set(rule["platforms_any"]) & set(entities.platforms):
            continue
        score = float(rule["weight"]) * max(matching)
        if score > best.get(rule["target"], (0.0, {}))[0]:
            best[rule["target"]] = (score, rule)
    info = data["targets"]
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:limit]
    return [
        Referral(
            target=t,
            name=info[t]["name"],
            contact=info[t]["contact"],
            reason=rule["reason"],
            evidence=list(rule.get("evidence") or []),
            score=round(score, 3),
        )
        for t, (score, rule) in ranked
    ]
