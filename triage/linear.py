"""Serving-time form of the calibrated linear classifiers: a few matrices instead of 64 sklearn objects.

sklearn validates its input on every call of every sub-estimator; with 16 labels x 3 calibration folds
that costs ~50 ms a message. Training keeps sklearn (``CalibratedClassifierCV`` with Platt sigmoids over
``LogisticRegression``); :func:`compile_ovr` and :func:`compile_multiclass` turn the fitted models into
the same arithmetic: per fold, p = expit(-(a * (x . w + b) + c)); multiclass rows are normalised; folds
are averaged. tests/test_triage_linear.py checks the results equal sklearn's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit


@dataclass
class CompiledLinear:
    W: np.ndarray  # (n_folds * n_outputs, n_features)
    b: np.ndarray  # (n_folds * n_outputs,)
    a: np.ndarray  # Platt slope per row
    c: np.ndarray  # Platt offset per row
    n_folds: int
    n_outputs: int
    normalise: bool  # multiclass: rows of each fold sum to 1
    classes: list[str]

    def __post_init__(self) -> None:
        # Stored transposed and contiguous: sparse @ dense then needs no per-call copy of the weights. Only that
        # copy is kept (W was a second 50 MB per worker).
        self.WT = np.ascontiguousarray(self.W.T)
        self.W = self.WT.T

    def predict_proba(self, X: sparse.spmatrix | np.ndarray) -> np.ndarray:
        D = X @ self.WT + self.b
        D = np.asarray(D)
        P = expit(-(self.a * D + self.c)).reshape(D.shape[0], self.n_folds, self.n_outputs)
        if self.normalise:
            s = P.sum(axis=2, keepdims=True)
            P = np.divide(P, s, out=np.full_like(P, 1.0 / self.n_outputs), where=s != 0)
        return P.mean(axis=1)


def _fold_rows(calibrated) -> tuple[list[np.ndarray], list[float], list[float], list[float]]:  # type: ignore[no-untyped-def]
    """(weights, intercepts, a, c) of every calibrated fold, one row per class output of that fold."""
    W, b, a, c = [], [], [], []
    for fold in calibrated.calibrated_classifiers_:
        lr = fold.estimator
        coef = lr.coef_
        inter = lr.intercept_
        for k, cal in enumerate(fold.calibrators):
            W.append(np.asarray(coef[k]).ravel())
            b.append(float(inter[k]))
            a.append(float(cal.a_))
            c.append(float(cal.b_))
    return W, b, a, c


def compile_ovr(ovr, classes: list[str]) -> CompiledLinear:  # type: ignore[no-untyped-def]
    """OneVsRestClassifier(CalibratedClassifierCV(LogisticRegression)) over a label indicator matrix."""
    per_label = [_fold_rows(est) for est in ovr.estimators_]
    n_folds = len(per_label[0][0])
    # Row order: fold-major, then label, so a reshape to (n, folds, labels) lines up.
    rows = [(f, j) for f in range(n_folds) for j in range(len(per_label))]
    W = np.vstack([per_label[j][0][f] for f, j in rows]).astype(np.float64)
    return CompiledLinear(W, np.array([per_label[j][1][f] for f, j in rows]), np.array([per_label[j][2][f] for f, j in rows]),
                          np.array([per_label[j][3][f] for f, j in rows]), n_folds, len(per_label), False, list(classes))


def compile_multiclass(calibrated) -> CompiledLinear:  # type: ignore[no-untyped-def]
    """CalibratedClassifierCV(LogisticRegression) with more than two classes."""
    W, b, a, c = _fold_rows(calibrated)
    n_out = len(calibrated.classes_)
    return CompiledLinear(np.vstack(W).astype(np.float64), np.array(b), np.array(a), np.array(c),
                          len(W) // n_out, n_out, True, [str(x) for x in calibrated.classes_])
