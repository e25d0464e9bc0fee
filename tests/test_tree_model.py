"""kb.tree_model scores exactly what lightgbm scores, for every kind of split LightGBM writes for numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from kb.tree_model import TreeEnsemble, TreeModelError

ROOT = Path(__file__).resolve().parents[1]


def _data(seed: int, n: int = 400, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random(X.shape) < 0.2] = 0.0
    y = X[:, 0] * 2 - X[:, 1] + (X[:, 2] > 0) + rng.normal(scale=0.1, size=n)
    return X, y


@pytest.mark.parametrize("params", [
    {},  # missing type none
    {"use_missing": True},  # NaN in training: missing type NaN, learned default directions
    {"zero_as_missing": True},  # missing type zero
])
def test_scores_equal_lightgbm(params: dict) -> None:
    X, y = _data(1)
    if params.get("use_missing"):
        X[np.random.default_rng(2).random(X.shape) < 0.15] = np.nan
    booster = lightgbm.train({"objective": "regression", "num_leaves": 9, "verbose": -1, "min_data_in_leaf": 5, **params},
                             lightgbm.Dataset(X, y), num_boost_round=40)
    ens = TreeEnsemble.from_text(booster.model_to_string())
    test, _ = _data(3, n=300)
    test[np.random.default_rng(4).random(test.shape) < 0.1] = np.nan  # NaN at prediction time in every variant
    assert np.allclose(ens.predict(test), booster.predict(test, num_threads=1), rtol=0, atol=1e-12)


def test_lambdarank_and_single_leaf_trees() -> None:
    X, y = _data(5, n=300)
    grades = np.clip(np.round(y - y.min()), 0, 3).astype(int)
    # Trees after the first few cannot split (min_data_in_leaf is large): one-leaf trees must still add their value.
    booster = lightgbm.train({"objective": "lambdarank", "num_leaves": 5, "min_data_in_leaf": 60, "verbose": -1},
                             lightgbm.Dataset(X, grades, group=[30] * 10), num_boost_round=30)
    ens = TreeEnsemble.from_text(booster.model_to_string())
    assert np.allclose(ens.predict(X), booster.predict(X, num_threads=1), rtol=0, atol=1e-12)


def test_served_ranking_model_matches() -> None:
    path = ROOT / "models" / "artifacts" / "search" / "ranking.json"
    if not path.exists():
        pytest.skip("no trained ranking model (make models)")
    body = json.loads(path.read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    for mode in body["modes"].values():
        text = mode["rerank"]["model"]
        ens = TreeEnsemble.from_text(text)
        X = rng.random((200, ens.n_features))
        X[rng.random(X.shape) < 0.3] = 0.0
        assert np.array_equal(ens.predict(X), lightgbm.Booster(model_str=text).predict(X, num_threads=1))


def test_refuses_what_it_cannot_reproduce() -> None:
    with pytest.raises(TreeModelError):
        TreeEnsemble.from_text("tree\nversion=v4\nnum_class=3\nnum_tree_per_iteration=3\nmax_feature_idx=1\n")
    X, y = _data(6)
    booster = lightgbm.train({"objective": "regression", "verbose": -1}, lightgbm.Dataset(X, y), num_boost_round=2)
    with pytest.raises(ValueError):
        TreeEnsemble.from_text(booster.model_to_string()).predict(X[:, :3])


def test_ranking_model_loads_without_lightgbm_or_sklearn() -> None:
    """What an API worker imports to rank: neither lightgbm nor scikit-learn (~75 MB each worker)."""
    code = ("import sys; from kb.ranking import RankingModel; "
            "print(sorted(m for m in ('lightgbm', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
