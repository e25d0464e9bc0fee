"""Triage of one message: mask -> normalise -> classify -> entities -> deadlines -> urgency -> referrals."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from typing import Any


from triage import deadlines as deadline_rules
from triage import referrals as referral_rules
from triage.classifier import Predictions, TriageModel, decide_labels
from triage.danger import KIND_ISSUE_TYPE, Danger, cue_groups
from triage.danger import decide as decide_danger
from triage.entities import Entities, extract
from triage.normalize import check_text, normalize
from triage.pii import mask
from triage.taxonomy import issue_type_names
from triage.urgency import RANK, Urgency, assess



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
    # The masked text normalised (full-width, traditional, Cantonese folded): what search is given
    # (kb.query.from_triage), so the embedding triage computed is the one search reuses.
    text_normalised: str = ""
    danger: Danger = Danger("none", None, 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = plain(self)
        d.pop("timings_ms", None)
        d.pop("text_normalised", None)
        d["entities"]["injury_severity"] = self.entities.injury_severity
        return d


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def plain(obj: Any) -> Any:
    """Dataclasses, lists, tuples and dicts as JSON-ready dicts and lists, dates as ISO strings: what
    ``dataclasses.asdict`` and a conversion gave, without asdict's deep copy of every value (it cost more than
    the rest of a response's conversion)."""
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None and is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(obj))
    if names is not None:
        return {n: plain(getattr(obj, n)) for n in names}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, date):
        return obj.isoformat()
    return obj


def close_deadlines(found: list[deadline_rules.Deadline]) -> list[str]:
    """The reasons "a legal deadline is close" for urgency."""
    return [f"{d.name}：剩 {d.days_left} 天（{d.due}）" if d.days_left >= 0 else f"{d.name}：已过 {-d.days_left} 天"
            for d in found if d.is_close and d.days_left is not None]


def _cue_groups() -> frozenset[str]:
    return frozenset(cue_groups())


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
        norms = [normalize(m.text) for m in masked]
        pred = self.model.predict([m.text for m in masked], norms)
        return [self._result(m.text, norms[i], m.kinds, pred, i, now) for i, m in enumerate(masked)]

    def _result(self, masked: str, norm: str, pii: list[str], pred: Predictions, i: int, now: datetime) -> TriageResult:
        model = self.model
        probs, urg = pred.issue[i], pred.urgency[i]
        cue_fired = any(r.code in _cue_groups() for r in pred.reasons[i])
        danger = decide_danger(float(pred.danger[i]), pred.kinds[i] if pred.kinds is not None else None,
                               model.danger_threshold_cue if cue_fired else model.danger_threshold, pred.reasons[i], norm,
                               model.check_threshold_cue if cue_fired else model.check_threshold)
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
        # Urgency's classifier speaks for low / normal / high; danger now is the detector's call alone.
        model_level = model.urgency_level(urg)
        if not labels and danger.kind:
            # The operator needs a type to act on when the classifier cannot place an emergency.
            labels = [KIND_ISSUE_TYPE[danger.kind]]
            abstain_reason = None
        found = deadline_rules.find(labels, norm, entities, now.date())
        close = close_deadlines(found)
        urgency = assess(norm, entities, model_level if labels else None, close, danger=danger)
        if not labels and RANK[urgency.level] < RANK["high"]:
            urgency = Urgency("low" if urgency.level == "low" else "normal", urgency.reasons)
        label_scores = {s.id: s.score for s in scores if s.id in labels}
        referrals = referral_rules.rank(label_scores, norm, entities, urgency.level, danger)
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
            text_normalised=norm,
            danger=danger,
        )
