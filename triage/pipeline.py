"""Triage of one message: mask -> normalise -> classify -> entities -> deadlines -> urgency -> referrals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from triage import deadlines as deadline_rules
from triage import referrals as referral_rules
from triage.classifier import TriageModel, decide_labels
from triage.entities import Entities, extract
from triage.normalize import check_text, normalize
from triage.pii import mask
from triage.taxonomy import issue_type_names
from triage.urgency import RANK, Urgency, assess, cue_reasons

# When the classifier abstains but a cue says emergency, the operator still needs a type to act on.
_CUE_TYPE = {"self_harm": "mental_crisis", "ongoing_violence": "safety_conflict", "acute_injury": "injury",
             "fire_or_danger": "safety_conflict"}


@dataclass(frozen=True, slots=True)
class IssueScore:
    id: str
    name: str
    score: float


@dataclass(frozen=True, slots=True)
class TriageResult:
    text_masked: str
    pii: list[str]
    issue_types: list[IssueScore]
    labels: list[str]
    abstain: bool
    abstain_reason: str | None
    urgency: Urgency
    entities: Entities
    deadlines: list[deadline_rules.Deadline]
    referrals: list[referral_rules.Referral]
    model_version: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def convert(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: convert(v) for k, v in obj.items()}
            if isinstance(obj, (list, tuple)):
                return [convert(v) for v in obj]
            if isinstance(obj, date):
                return obj.isoformat()
            return obj

        d = convert(asdict(self))
        d.pop("timings_ms", None)
        d["entities"]["injury_severity"] = self.entities.injury_severity
        return d


class Triager:
    """Analyse messages with a trained :class:`TriageModel` (see ``jishibang train triage``)."""

    def __init__(self, model: TriageModel) -> None:
        self.model = model
        self._names = issue_type_names()

    def analyse(self, text: str, now: datetime | None = None) -> TriageResult:
        return self.analyse_many([text], now)[0]

    def analyse_many(self, texts: list[str], now: datetime | None = None) -> list[TriageResult]:
        """Each text is checked (raises :class:`TextError`), masked, then classified in one batch."""
        now = now or datetime.now()
        cleaned = [check_text(t) for t in texts]
        masked = [mask(t) for t in cleaned]
        issue_p, urgency_p = self.model.predict_proba([m.text for m in masked])
        return [self._result(m.text, m.kinds, issue_p[i], urgency_p[i], now) for i, m in enumerate(masked)]

    def _result(self, masked: str, pii: list[str], probs: np.ndarray, urg: np.ndarray, now: datetime) -> TriageResult:
        model = self.model
        norm = normalize(masked)
        scores = sorted(
            (IssueScore(t, self._names[t], round(float(p), 4)) for t, p in zip(model.labels, probs)),
            key=lambda s: -s.score,
        )
        labels = decide_labels(probs, model.labels, model.thresholds, model.abstain_threshold)
        top = scores[0]
        abstain_reason = None
        if not labels:
            abstain_reason = f"no issue type is confident enough (best {top.id} {top.score:.2f} < {model.abstain_threshold:.2f})"

        entities = extract(norm, now)
        # Urgency from the classifier: emergency only above the recall-tuned threshold.
        classes = model.urgency_classes
        p = dict(zip(classes, urg))
        model_level = max((c for c in classes if c != "emergency"), key=lambda c: p[c])
        if p.get("emergency", 0.0) >= model.emergency_threshold:
            model_level = "emergency"
        cues = cue_reasons(norm)
        if not labels:
            # Cues still find emergencies in a message the classifier cannot place.
            cue_types = [_CUE_TYPE[r.code] for lvl, r in cues if lvl == "emergency" and r.code in _CUE_TYPE]
            if cue_types:
                labels = list(dict.fromkeys(cue_types))
                abstain_reason = None
        found = deadline_rules.find(labels, norm, entities, now.date())
        close = [f"{d.name}：剩 {d.days_left} 天（{d.due}）" if d.days_left >= 0 else f"{d.name}：已过 {-d.days_left} 天"
                 for d in found if d.is_close and d.days_left is not None]
        urgency = assess(norm, entities, model_level if labels else None, close, cues)
        if not labels and RANK[urgency.level] < RANK["high"]:
            urgency = Urgency("low" if urgency.level == "low" else "normal", urgency.reasons)
        label_scores = {s.id: s.score for s in scores if s.id in labels}
        referrals = referral_rules.rank(label_scores, norm, entities, urgency.level)
        return TriageResult(
            text_masked=masked,
            pii=pii,
            issue_types=scores,
            labels=labels,
            abstain=not labels,
            abstain_reason=abstain_reason if not labels else None,
            urgency=urgency,
            entities=entities,
            deadlines=found,
            referrals=referrals,
            model_version=model.manifest.get("version"),
        )
