"""Urgency: danger now, cue words, injury severity, deadlines, and the classifier's view, combined.

``emergency`` comes from the danger-now detector alone (triage/danger.py), which weighs its cue words in
context (死 as an intensifier, an event that is over, news about others). Below it, the level is the highest
that a reason supports: ``high`` for a serious injury, a vehicle held, income cut off, a deadline within
reach, a group dispute, a threat; the classifier's low / normal / high otherwise; ``low`` for information
questions. Every level carries its reasons, shown to the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triage.danger import Danger, cue_groups
from triage.entities import Entities
from triage.lexicon import load_yaml
from triage.rules import first_match

LEVELS = ("low", "normal", "high", "emergency")
RANK = {level: i for i, level in enumerate(LEVELS)}

MODEL_REASON = {"low": "分类模型判断：信息咨询", "normal": "分类模型判断：一般纠纷，需要处理",
                "high": "分类模型判断：伤害严重或时限紧"}
KIND_NAMES = {"self_harm_passive": "消极自杀意念", "self_harm_euphemistic": "隐晦的自杀信号", "self_harm_active": "自杀风险",
              "child_at_risk": "儿童或青少年有危险", "violence_now": "暴力正在发生", "threat_to_life": "生命受到威胁",
              "acute_injury": "急性伤情", "confinement": "被限制离开", "other_danger": "现场危险"}


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
    danger: Danger | None = None,
) -> Urgency:
    """``cues``: :func:`cue_reasons` of the text when the caller already has them; ``danger``: the
    detector's verdict (an emergency only when it says so)."""
    cues = cue_reasons(normalised) if cues is None else cues
    if danger is not None and danger.level != "none":
        what = "消极自杀意念：请直接询问是否有自杀想法" if danger.level == "passive" else f"危险正在发生（{KIND_NAMES.get(danger.kind or '', '紧急')}）"
        reasons = [UrgencyReason("danger", danger.kind or "danger", f"{what}，检测概率 {danger.probability:.2f}")]
        reasons += [UrgencyReason("cue", r.code, r.detail) for r in danger.reasons if r.code in cue_groups()]
        return Urgency("emergency", reasons)
    reasons: list[tuple[str, UrgencyReason]] = []
    for level, reason in cues:
        if level == "low":
            continue  # information cues never lower what another source raised; handled below
        reasons.append((level, reason))
    severity = entities.injury_severity
    if severity == "severe":
        words = "、".join(i.word for i in entities.injuries if i.severity == "severe")
        reasons.append(("high", UrgencyReason("injury", "severe_injury", f"伤情严重：{words}")))
    for detail in deadline_reasons or []:
        reasons.append(("high", UrgencyReason("deadline", "deadline_close", detail)))
    if model_level and model_level != "emergency":
        reasons.append((model_level, UrgencyReason("model", f"model_{model_level}", MODEL_REASON[model_level])))
    low = [r for lvl, r in cues if lvl == "low"]
    if low and not any(lvl == "high" for lvl, _ in reasons):
        # An information question (how to join, where the station is): low unless something serious is said.
        return Urgency("low", low)
    if not reasons:
        return Urgency("normal", [])
    level = max((lvl for lvl, _ in reasons), key=RANK.__getitem__)
    # Show the reasons that support the chosen level first.
    ordered = sorted(reasons, key=lambda lr: -RANK[lr[0]])
    return Urgency(level, [r for _, r in ordered])
