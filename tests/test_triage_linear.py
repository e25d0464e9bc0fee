"""The compiled serving form of the calibrated classifiers gives sklearn's probabilities."""

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from triage.linear import compile_multiclass, compile_ovr


def test_compiled_models_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    X = sparse.random(400, 50, density=0.2, random_state=1, format="csr")
    Y = (rng.random((400, 5)) < 0.3).astype(int)
    Y[:, 0] = (X[:, 0].toarray().ravel() > 0).astype(int)  # one learnable label
    ovr = OneVsRestClassifier(CalibratedClassifierCV(LogisticRegression(max_iter=500), method="sigmoid", cv=3)).fit(X, Y)
    fast = compile_ovr(ovr, [f"l{i}" for i in range(5)])
    np.testing.assert_allclose(fast.predict_proba(X), ovr.predict_proba(X), rtol=1e-9, atol=1e-12)

    y = rng.choice(["emergency", "high", "low", "normal"], size=400)
    multi = CalibratedClassifierCV(LogisticRegression(max_iter=500), method="sigmoid", cv=3).fit(X, y)
    fast_m = compile_multiclass(multi)
    assert fast_m.classes == list(multi.classes_)
    np.testing.assert_allclose(fast_m.predict_proba(X), multi.predict_proba(X), rtol=1e-9, atol=1e-12)
