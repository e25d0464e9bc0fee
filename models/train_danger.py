"""Fit the danger-now detector (triage/danger.py) on a triage model's features.

Trained on the crisis corpus (models/crisis_data.py) and the team corpus (an emergency when its urgency is),
training splits only. The regularisation is chosen, and the threshold set, on the validation splits: the
threshold is the highest that still flags every validation emergency (recall 1.0 first), and among the
candidates the one with the fewest false alarms wins. A second logistic regression names the kind among the
crisis corpus's emergencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from models.crisis_data import CrisisExample
from triage.classifier import danger_matrix, danger_words
from triage.danger import KINDS, context_matrix, cue_groups
from triage.normalize import normalize
from triage.pii import mask

DANGER_CS = (4.0, 16.0, 32.0)
CONTEXT_WEIGHT = 1.0


@dataclass
class DangerFit:
    danger_clf: Any
    kind_clf: Any
    threshold: float  # messages without a cue word
    threshold_cue: float  # messages where a cue word fired
    context_weight: float
    report: dict[str, Any]


def _inputs(features: Any, examples: Sequence[CrisisExample]) -> tuple[Any, np.ndarray]:
    normalised = [normalize(mask(e.text).text) for e in examples]
    return danger_words(features, normalised), context_matrix(normalised)


# Short everyday inputs the crisis corpus lacks: with so few words, the model's intercept alone put "好的" or
# "再见" over the threshold. Written here (not drawn from any evaluation set).
EVERYDAY = ["好的", "好", "收到", "嗯", "嗯嗯", "哦", "再见", "拜拜", "谢谢", "谢谢你们", "多谢", "ok", "hello", "你好", "在吗",
            "有人吗", "明白了", "知道了", "辛苦了", "好的谢谢", "行", "可以", "不用了", "没事了", "好吧", "是的", "对", "不是",
            "等一下", "稍等", "我再想想", "那算了", "我明天再问", "晚安", "早上好", "收到谢谢", "了解", "好的明白", "哈哈",
            "嗯嗯好的", "ok谢谢", "👍", "🙏", "😊", "唔该", "得", "好嘅", "係", "冇问题", "拜拜啦"]


def fit_danger(features: Any, train: Sequence[CrisisExample], val: Sequence[CrisisExample],
               Cs: Sequence[float] = DANGER_CS, weight: float = CONTEXT_WEIGHT) -> DangerFit:
    train = [*train, *(CrisisExample(f"everyday-{i}", t, False, "other", "everyday") for i, t in enumerate(EVERYDAY))]
    Ftr, Ctr = _inputs(features, train)
    Fva, Cva = _inputs(features, val)
    Xtr, Xva = danger_matrix(Ftr, Ctr, weight), danger_matrix(Fva, Cva, weight)
    ytr = np.array([e.emergency for e in train])
    yva = np.array([e.emergency for e in val])
    # Two thresholds, each the highest that keeps recall 1.0 on validation: one for messages where a cue word
    # fired (outside intensifiers), one for the rest. A cue is evidence; without one the model must be surer.
    cue_va = Cva[:, : len(cue_groups())].any(axis=1)
    tried = []
    best: tuple[float, float, Any, float, float] | None = None  # (false alarm rate, C, model, plain, cue)
    for C in Cs:
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(Xtr, ytr)
        p = clf.predict_proba(Xva)[:, 1]
        plain = float(p[yva & ~cue_va].min()) if (yva & ~cue_va).any() else 0.5
        with_cue = float(p[yva & cue_va].min()) if (yva & cue_va).any() else plain
        flagged = p >= np.where(cue_va, with_cue, plain)
        false_alarms = float(flagged[~yva].mean()) if (~yva).any() else 0.0
        tried.append({"C": C, "threshold": round(plain, 4), "threshold_cue": round(with_cue, 4),
                      "val_false_alarm_rate": round(false_alarms, 4)})
        if best is None or false_alarms < best[0] - 1e-12:
            best = (false_alarms, C, clf, plain, with_cue)
    assert best is not None
    false_alarms, C, clf, threshold, threshold_cue = best
    with_kind = [i for i, e in enumerate(train) if e.emergency and e.kind in KINDS]
    kind_clf = LogisticRegression(C=C, max_iter=5000).fit(Xtr[with_kind], [train[i].kind for i in with_kind])
    missing = sorted(set(KINDS) - set(kind_clf.classes_))
    if missing:
        raise ValueError(f"the crisis training split lacks emergency kinds {missing}")
    report = {"chosen_C": C, "threshold": round(threshold, 4), "threshold_cue": round(threshold_cue, 4),
              "val_emergencies": int(yva.sum()),
              "val_negatives": int((~yva).sum()), "val_false_alarm_rate": round(false_alarms, 4), "tried": tried,
              "train_rows": len(train)}
    return DangerFit(clf, kind_clf, threshold, threshold_cue, weight, report)
