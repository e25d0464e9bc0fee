"""LightGBM's text model format, evaluated with numpy.

The service only predicts with the reranker; importing lightgbm to do so also imports scikit-learn and
scipy.stats (lightgbm's sklearn API is loaded with the package), ~75 MB per API worker. Training keeps
lightgbm; serving reads the same text (``Booster.model_to_string()``) here. tests/test_tree_model.py checks
the scores equal lightgbm's on the served model's real features.

What is supported is what LightGBM writes for numerical splits: ``decision_type`` bit 1 = default left,
bits 2-3 = missing type (0 none, 1 zero, 2 NaN). Categorical splits and linear trees are refused (the
reranker has neither); so is a model with more than one output per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ZERO = 1e-35  # LightGBM's kZeroThreshold
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2


class TreeModelError(ValueError):
    """The text is not a model this evaluator can reproduce exactly."""


@dataclass(frozen=True)
class TreeEnsemble:
    """All trees padded into arrays of shape (trees, max nodes) so one pass walks every tree at once.

    Children >= 0 are internal nodes; a negative child ``c`` is leaf ``~c``."""

    feature: np.ndarray  # int, split feature per node
    threshold: np.ndarray  # float64
    default_left: np.ndarray  # bool
    missing: np.ndarray  # int8 missing type per node
    left: np.ndarray  # int
    right: np.ndarray  # int
    leaf_value: np.ndarray  # (trees, max leaves)
    depth: int  # the longest root-to-leaf path: the number of steps a walk needs
    n_features: int

    @classmethod
    def from_text(cls, text: str) -> TreeEnsemble:
        header, _, body = text.partition("\nTree=")
        head = _fields(header)
        if int(head.get("num_tree_per_iteration", "1")) != 1 or int(head.get("num_class", "1")) != 1:
            raise TreeModelError("only single-output models (ranking, regression, binary) are supported")
        if "average_output" in header.split("\n"):
            raise TreeModelError("random-forest (average_output) models are not supported")
        n_features = int(head["max_feature_idx"]) + 1
        # Blocks after the header, one per tree; the last also holds the feature importances and parameters.
        trees = [t for t in map(_fields, body.split("\nTree=")) if "num_leaves" in t]
        if not trees:
            raise TreeModelError("no trees in the model text")
        parsed = [_tree(t) for t in trees]
        n_nodes = max(max(len(p["feature"]), 1) for p in parsed)
        n_leaves = max(len(p["leaf_value"]) for p in parsed)
        T = len(parsed)
        feature = np.zeros((T, n_nodes), dtype=np.int64)
        threshold = np.zeros((T, n_nodes), dtype=np.float64)
        default_left = np.zeros((T, n_nodes), dtype=bool)
        missing = np.zeros((T, n_nodes), dtype=np.int8)
        # A one-leaf tree has no split: its root "node" sends everything to leaf 0 both ways.
        left = np.full((T, n_nodes), -1, dtype=np.int64)
        right = np.full((T, n_nodes), -1, dtype=np.int64)
        leaf_value = np.zeros((T, n_leaves), dtype=np.float64)
        depth = 1
        for i, p in enumerate(parsed):
            k = len(p["feature"])
            feature[i, :k] = p["feature"]
            threshold[i, :k] = p["threshold"]
            default_left[i, :k] = (p["decision_type"] & 2) != 0
            missing[i, :k] = (p["decision_type"] >> 2) & 3
            if k:
                left[i, :k] = p["left"]
                right[i, :k] = p["right"]
            leaf_value[i, : len(p["leaf_value"])] = p["leaf_value"]
            depth = max(depth, _depth(p["left"], p["right"]))
        return cls(feature, threshold, default_left, missing, left, right, leaf_value, depth, n_features)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (the sum of the leaves reached), as ``Booster.predict`` returns them."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected (n, {self.n_features}) features, got {X.shape}")
        n, (T, width) = X.shape[0], self.feature.shape
        # Flat indices (tree * width + node): np.take on 1-D arrays is several times faster than 2-D fancy indexing.
        base = (np.arange(T, dtype=np.int64) * width)[:, None]
        row_base = (np.arange(n, dtype=np.int64) * self.n_features)[None, :]
        plain = not self.missing.any()
        if plain:
            X = np.nan_to_num(X, nan=0.0)  # missing type none: NaN counts as 0 (LightGBM's NumericalDecision)
        flat_x = X.ravel()
        feature, threshold = self.feature.ravel(), self.threshold.ravel()
        left, right = self.left.ravel(), self.right.ravel()
        node = np.zeros((T, n), dtype=np.int64)
        for _ in range(self.depth):
            inner = node >= 0
            if not inner.any():
                break
            at = base + np.where(inner, node, 0)
            x = flat_x.take(row_base + feature.take(at))
            if plain:
                go_left = x <= threshold.take(at)
            else:
                miss = self.missing.ravel().take(at)
                nan = np.isnan(x)
                x = np.where(nan & (miss != MISSING_NAN), 0.0, x)
                is_missing = ((miss == MISSING_ZERO) & (np.abs(x) <= ZERO)) | ((miss == MISSING_NAN) & nan)
                go_left = np.where(is_missing, self.default_left.ravel().take(at), x <= threshold.take(at))
            node = np.where(inner, np.where(go_left, left.take(at), right.take(at)), node)
        leaves = self.leaf_value.shape[1]
        return self.leaf_value.ravel().take((np.arange(T)[:, None] * leaves) + ~node).sum(axis=0)

def _fields(block: str) -> dict[str, str]:
    out = {}
    for line in block.split("\n"):
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _numbers(value: str, kind: type) -> list:  # type: ignore[type-arg]
    return [kind(v) for v in value.split()] if value else []


def _tree(t: dict[str, str]) -> dict[str, list]:  # type: ignore[type-arg]
    if int(t.get("num_cat", "0")) or int(t.get("is_linear", "0")):
        raise TreeModelError("categorical splits and linear trees are not supported")
    decision = _numbers(t.get("decision_type", ""), int)
    if any(d & 1 for d in decision):
        raise TreeModelError("categorical splits are not supported")
    return {"feature": _numbers(t.get("split_feature", ""), int), "threshold": _numbers(t.get("threshold", ""), float),
            "decision_type": np.asarray(decision, dtype=np.int64), "left": _numbers(t.get("left_child", ""), int),
            "right": _numbers(t.get("right_child", ""), int), "leaf_value": _numbers(t["leaf_value"], float)}


def _depth(left: list[int], right: list[int]) -> int:
    if not left:
        return 1
    deepest, stack = 0, [(0, 1)]
    while stack:
        node, d = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                stack.append((child, d + 1))
            else:
                deepest = max(deepest, d)
    return deepest
