"""Fit the danger-now detector (triage/danger.py) on a triage model's features.

Trained on the crisis corpus (models/crisis_data.py) and the team corpus (an emergency when its urgency is), the
training and validation splits (the test splits stay held out). The regularisation and the thresholds come from
out-of-fold probabilities: the safety-check threshold is the highest that still reaches every emergency, the
emergency threshold the highest that flags NOW_RECALL of them, and the C with the fewest false emergencies wins. A second logistic regression names the kind
among the crisis corpus's emergencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from models.crisis_data import CrisisExample
from triage.classifier import danger_matrix, danger_words, text_encoder
from triage.danger import KINDS, NeighbourMemory, context_matrix, cue_groups, unit_rows
from triage.normalize import normalize
from triage.pii import mask

DANGER_CS = (4.0, 16.0)
NOW_RECALL = 0.98  # the emergency flag's share of training emergencies (out of fold); the rest reach "check"
CONTEXT_WEIGHT = 1.0
# The safety-check band reaches below the lowest training emergency by this factor. That lowest probability is one
# message's (an extreme of ~1,000): a new writer's hardest message lands below it often enough (the blind crisis sets
# showed it: a retraining that moved it from 0.030 to 0.060 left a passive ideation at 0.045 with no check at all).
# A check costs the operator one safety question and shows a worker where support is; a missed crisis costs a life.
CHECK_MARGIN = 0.5
# ... but never for more than this share of non-emergencies (out of fold). A band set by one outlier can sink so low
# that it asks about safety for most messages, and then it tells operators nothing (2026-12-05: 1,000 more everyday
# messages moved the lowest training emergency, a liver patient's "终于可以不用撑了", from 0.05 to 0.006 and the band
# from 29% to 70% of non-emergencies, 36-46% of the read blind sets' everyday messages). Where the cap binds, the band
# gives up the fewest emergencies it must, and the training report counts them.
CHECK_RATE_CAP = 0.35  # above where the band ran before (29% out of fold): it binds on a collapse, not in normal running
# The neighbour memory (triage.danger.NeighbourMemory): nearest k examples each side, its features times this weight.
# Chosen out of fold on the crisis training rows (false alarms at recall 0.98: no memory 6.6%, weight 1 5.4%, 3 4.1%,
# 8 4.0%) and on the four read blind crisis sets (no memory: 7.4% false alarms, 17 of 720 emergencies below the flag;
# weight 3: 5.3%, 13). The encoder's own vectors, not the centred ones: with those the out-of-fold gain was the same
# (4.4%) but the read sets got worse (7.8%, 22): a gain out of fold alone can be neighbours by the same author.
NEIGHBOURS_K = 5
NEIGHBOURS_WEIGHT = 3.0


@dataclass
class DangerFit:
    danger_clf: Any
    kind_clf: Any
    memory: NeighbourMemory | None  # None when the features have no sentence vectors (the tfidf variant)
    threshold: float  # messages without a cue word
    threshold_cue: float  # messages where a cue word fired
    check_threshold: float  # the safety-check band starts here (every training emergency reaches it)
    check_threshold_cue: float
    context_weight: float
    report: dict[str, Any]


def _normalised(examples: Sequence[CrisisExample]) -> list[str]:
    return [normalize(mask(e.text).text) for e in examples]


def _inputs(features: Any, normalised: list[str]) -> tuple[Any, np.ndarray]:
    return danger_words(features, normalised), context_matrix(normalised)


def _sentence_vectors(features: Any, normalised: list[str]) -> np.ndarray | None:
    """Unit sentence vectors of the texts as the served detector computes them (triage.classifier.
    neighbour_features); None for features without a sentence encoder."""
    encoder = text_encoder(features)
    if encoder is None:
        return None
    return unit_rows(np.asarray(encoder(normalised)))


# Short everyday inputs the crisis corpus lacks: with so few words, the model's intercept alone put "好的" or
# "再见" over the threshold. Written here (not drawn from any evaluation set).
EVERYDAY = ["好的", "好", "收到", "嗯", "嗯嗯", "哦", "再见", "拜拜", "谢谢", "谢谢你们", "多谢", "ok", "hello", "你好", "在吗",
            "有人吗", "明白了", "知道了", "辛苦了", "好的谢谢", "行", "可以", "不用了", "没事了", "好吧", "是的", "对", "不是",
            "等一下", "稍等", "我再想想", "那算了", "我明天再问", "晚安", "早上好", "收到谢谢", "了解", "好的明白", "哈哈",
            "嗯嗯好的", "ok谢谢", "👍", "🙏", "😊", "唔该", "得", "好嘅", "係", "冇问题", "拜拜啦"]


def _thresholds(p: np.ndarray, y: np.ndarray, cue: np.ndarray, recall: float) -> tuple[float, float, float]:
    """(plain, with cue, false alarm rate): the pair of thresholds (messages where a cue word fired, the rest)
    with the fewest false alarms among those that flag at least ``recall`` of the emergencies. At 1.0 each is
    its group's lowest emergency; below, the misses go where they buy the most false alarms back (measured out
    of fold at 0.98: 4.7% false alarms, against 6.0% when each group kept 0.98 of its own)."""
    pos_plain = np.sort(p[y & ~cue])[::-1]
    pos_cue = np.sort(p[y & cue])[::-1]
    need = int(np.ceil(recall * (len(pos_plain) + len(pos_cue)) - 1e-9))
    best: tuple[float, float, float] | None = None
    for k in range(len(pos_plain) + 1):  # flag the k likeliest plain emergencies, the rest from the cue group
        rest = need - k
        if rest < 0 or rest > len(pos_cue):
            continue
        plain = float(pos_plain[k - 1]) if k else 1.01
        with_cue = float(pos_cue[rest - 1]) if rest else 1.01
        flagged = p >= np.where(cue, with_cue, plain)
        false_alarms = float(flagged[~y].mean()) if (~y).any() else 0.0
        if best is None or false_alarms < best[2] - 1e-12:
            best = (plain, with_cue, false_alarms)
    assert best is not None  # some split always fits: need is at most both groups together
    plain, with_cue, false_alarms = best
    if not len(pos_plain):
        plain = with_cue  # nothing to learn the plain group's threshold from: the cue group's
    if not len(pos_cue):
        with_cue = plain
    return plain, with_cue, false_alarms


def check_thresholds(p: np.ndarray, y: np.ndarray, cue: np.ndarray, margin: float = CHECK_MARGIN,
                     cap: float = CHECK_RATE_CAP) -> tuple[float, float, float]:
    """(plain, with cue, share of non-emergencies checked): ``margin`` times each group's lowest emergency; when
    that checks more than ``cap`` of the non-emergencies, the band gives up the fewest emergencies that bring it
    under the cap (which ones: as the danger point chooses, the split that checks the fewest non-emergencies)."""
    n_pos = int(y.sum())

    def band(recall: float) -> tuple[float, float, float]:
        plain, with_cue, _ = _thresholds(p, y, cue, recall)
        plain, with_cue = plain * margin, with_cue * margin
        return plain, with_cue, float((p >= np.where(cue, with_cue, plain))[~y].mean()) if (~y).any() else 0.0

    for given_up in range(n_pos + 1):
        plain, with_cue, rate = band((n_pos - given_up) / n_pos if n_pos else 1.0)
        if rate <= cap:
            break
    return plain, with_cue, rate


def fit_danger(features: Any, train: Sequence[CrisisExample], val: Sequence[CrisisExample],
               Cs: Sequence[float] = DANGER_CS, weight: float = CONTEXT_WEIGHT, folds: int = 5,
               now_recall: float = NOW_RECALL, neighbours_k: int = NEIGHBOURS_K,
               neighbours_weight: float = NEIGHBOURS_WEIGHT) -> DangerFit:
    """Thresholds from out-of-fold probabilities over the training and validation splits together (5 folds):
    ~900 emergencies, not ~150, so the hardest message of one small split does not set them by chance
    (measured: thresholds from validation alone gave 0.958 recall on the held-out crisis test split).
    Two operating points per group (messages where a cue word fired outside intensifiers, and the rest):
    the *check* threshold flags every emergency (and ``CHECK_MARGIN`` below the lowest); the *danger* threshold
    ``now_recall`` of them. Measured out of
    fold: recall 1.0 alone flagged ~19% of the team corpus's non-emergencies, 0.98 flags ~5% and the ~2% it
    misses still reach the check band. The C with the fewest false emergencies wins; the served detector is
    then fitted on both splits."""
    from sklearn.model_selection import StratifiedKFold

    rows = [*train, *val, *(CrisisExample(f"everyday-{i}", t, False, "other", "everyday")
                            for i, t in enumerate(EVERYDAY))]
    normalised = _normalised(rows)
    F, Cx = _inputs(features, normalised)
    y = np.array([e.emergency for e in rows])
    V = _sentence_vectors(features, normalised) if neighbours_weight else None
    memory = None if V is None else NeighbourMemory(V, y, neighbours_k, neighbours_weight)

    def inputs(idx: np.ndarray, memory_idx: np.ndarray | None) -> Any:
        """Rows ``idx`` with their neighbour features from the memory rows ``memory_idx`` (None: the same rows,
        each not finding itself). Out of fold, a held-out message finds only the training fold's examples."""
        if memory is None:
            return danger_matrix(F[idx], Cx[idx], weight)
        mem_idx = idx if memory_idx is None else memory_idx
        fold_memory = NeighbourMemory(V[mem_idx], y[mem_idx], neighbours_k, neighbours_weight)
        return danger_matrix(F[idx], Cx[idx], weight, fold_memory.features(V[idx], exclude_self=memory_idx is None))

    everything = np.arange(len(y))
    X = inputs(everything, None)
    cue = Cx[:, : len(cue_groups())].any(axis=1)
    tried = []
    best: tuple[float, float, tuple[float, float], tuple[float, float], float] | None = None
    folds_split = list(StratifiedKFold(folds, shuffle=True, random_state=7).split(np.zeros(len(y)), y))
    fold_inputs = [(inputs(tr, None), inputs(te, tr)) for tr, te in folds_split]
    for C in Cs:
        p = np.zeros(len(y))
        for (tr, te), (Xtr, Xte) in zip(folds_split, fold_inputs):
            p[te] = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(Xtr, y[tr]).predict_proba(Xte)[:, 1]
        plain, with_cue, false_alarms = _thresholds(p, y, cue, now_recall)
        check_plain, check_cue, check_rate = check_thresholds(p, y, cue)
        tried.append({"C": C, "threshold": round(plain, 4), "threshold_cue": round(with_cue, 4),
                      "oof_false_alarm_rate": round(false_alarms, 4), "check_threshold": round(check_plain, 4),
                      "check_threshold_cue": round(check_cue, 4), "oof_check_rate": round(check_rate, 4)})
        if best is None or false_alarms < best[0] - 1e-12:
            best = (false_alarms, C, (plain, with_cue), (check_plain, check_cue), check_rate)
            best_p = p
    assert best is not None
    false_alarms, C, (threshold, threshold_cue), (check, check_cue), check_rate = best
    below_check = int(((best_p < np.where(cue, check_cue, check)) & y).sum())
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(X, y)
    with_kind = [i for i, e in enumerate(rows) if e.emergency and e.kind in KINDS]
    kind_clf = LogisticRegression(C=C, max_iter=5000).fit(X[with_kind], [rows[i].kind for i in with_kind])
    missing = sorted(set(KINDS) - set(kind_clf.classes_))
    if missing:
        raise ValueError(f"the crisis training split lacks emergency kinds {missing}")
    report = {"chosen_C": C, "now_recall": now_recall, "threshold": round(threshold, 4),
              "threshold_cue": round(threshold_cue, 4), "check_threshold": round(check, 4),
              "check_threshold_cue": round(check_cue, 4),
              "emergencies": int(y.sum()), "negatives": int((~y).sum()),
              # out of fold, over train + validation: non-emergencies flagged as emergencies / as "check" or more
              "val_false_alarm_rate": round(false_alarms, 4), "oof_check_rate": round(check_rate, 4),
              "oof_emergencies_below_check": below_check,
              "neighbour_memory": None if memory is None else {"rows": len(y), "k": neighbours_k,
                                                                  "weight": neighbours_weight},
              "tried": tried, "rows": len(rows)}
    return DangerFit(clf, kind_clf, memory, threshold, threshold_cue, check, check_cue, weight, report)
