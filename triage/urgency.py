"""Urgency: cue words, injury severity, deadlines, and the classifier's view, combined.

The level is the highest any source supports: a cue for self-harm or ongoing violence makes a
message an emergency whatever the classifier says, because missing one is the worst error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triage.entities import Entities
from triage.lexicon import load_yaml
from triage.rules import first_match

LEVELS = ("low", "normal", "high", "emergency")
RANK = {level: i for i, level in enumerate(LEVELS)}

_RECENT = ("刚刚", "刚才", "现在", "正在", "而家", "马上", "在地上", "在路边", "在现场")


@dataclass(frozen=True, slots=True)
class UrgencyReason:
    source: str  # cue | injury | deadline | model
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Urgency:
    level: str
    reasons: list[UrgencyReason] = field(default_factory=list)


def cue_reasons(normalised: str) -> list[tuple[str, UrgencyReason]]:
    """(level, reason) for every cue group that fires."""
    out = []
    for level, groups in load_yaml("urgency_cues.yaml").items():
        for code, group in groups.items():
            hit = first_match(group["patterns"], normalised)
            if hit:
                out.append((level, UrgencyReason("cue", code, f"{group['zh']}：“{hit}”")))
    return out


def assess(
    normalised: str,
    entities: Entities,
    model_level: str | None = None,
    deadline_reasons: list[str] | None = None,
    cues: list[tuple[str, UrgencyReason]] | None = None,
) -> Urgency:
    """``cues``: :func:`cue_reasons` of the text when the caller already has them."""
    cues = cue_reasons(normalised) if cues is None else cues
    reasons: list[tuple[str, UrgencyReason]] = []
    for level, reason in cues:
        if level == "low":
            continue  # information cues never lower what another source raised; handled below
        reasons.append((level, reason))
    severity = entities.injury_severity
    if severity == "severe":
        words = "、".join(i.word for i in entities.injuries if i.severity == "severe")
        recent = any(w in normalised for w in _RECENT)
        reasons.append(("emergency" if recent else "high", UrgencyReason("injury", "severe_injury", f"伤情严重：{words}")))
    for detail in deadline_reasons or []:
        reasons.append(("high", UrgencyReason("deadline", "deadline_close", detail)))
    if model_level:
        reasons.append((model_level, UrgencyReason("model", f"model_{model_level}", "分类模型判断")))
    if not reasons:
        low = [r for lvl, r in cues if lvl == "low"]
        return Urgency("low" if low else "normal", low)
    level = max((lvl for lvl, _ in reasons), key=RANK.__getitem__)
    # Show the reasons that support the chosen level first.
    ordered = sorted(reasons, key=lambda lr: -RANK[lr[0]])
    return Urgency(level, [r for _, r in ordered])
