"""The trained triage model: issue types (multi-label, calibrated) and urgency, saved with a manifest.

An artifact is a directory ``<model_dir>/triage/<version>/`` holding ``model.joblib`` (the fitted sklearn
objects, for training, evaluation and promotion), its serving form ``serving.npz`` + ``serving.json``
(triage/serving_form.py: the same numbers, read without scikit-learn by the API workers) and
``manifest.json`` (label set, data hash, library versions, metrics, file hashes). Loading refuses an
artifact whose manifest does not match its files, the label set or the libraries in use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from triage.danger import KINDS, DangerReason, NeighbourMemory, neutralise, unit_rows
from triage.danger import context as danger_context
from triage.errors import ArtifactError
from triage import serving_form
from triage.serving_form import EmbeddingPart, Encoder, ServingFeatures, dense_row_csr, hstack_csr, leading_columns
from triage.files import point_current, sha256_file
from triage.linear import CompiledLinear, compile_multiclass, compile_ovr
from triage.taxonomy import issue_types, urgency_levels

FORMAT_VERSION = 2  # 2: the danger-now detector (danger_clf, kind_clf, danger_threshold)
CURRENT_FILE = "CURRENT"


@dataclass
class TriageModel:
    """Features + one calibrated binary classifier per issue type + an urgency classifier."""

    features: Any  # the fitted sklearn Pipeline (triage/features.py), or its ServingFeatures
    issue_clf: Any
    urgency_clf: Any
    labels: list[str]
    thresholds: dict[str, float]
    abstain_threshold: float
    emergency_threshold: float
    variant: str
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_encoder(self) -> bool:
        if isinstance(self.features, ServingFeatures):
            return self.features.uses_embeddings()
        from triage.features import uses_embeddings

        return uses_embeddings(self.features)

    def attach_encoder(self, encoder: Encoder | None) -> None:
        if isinstance(self.features, ServingFeatures):
            self.features.attach_encoder(encoder)
            return
        from triage.features import attach_encoder

        attach_encoder(self.features, encoder)

    issue_fast: CompiledLinear | None = None
    urgency_fast: CompiledLinear | None = None
    # Danger now (triage/danger.py): P(danger) over [features, context], and the kind among the emergencies.
    danger_clf: Any = None
    kind_clf: Any = None
    danger_threshold: float = 0.5  # for messages with no cue word (outside intensifiers)
    danger_threshold_cue: float = 0.5  # for messages where a cue word of triage/data/danger.yaml fired
    # The safety-check band below them (triage.danger.decide); 1.01 (never) for models trained before it.
    check_threshold: float = 1.01
    check_threshold_cue: float = 1.01
    context_weight: float = 1.0
    # The detector's nearest written examples in meaning (triage.danger.NeighbourMemory); None: words and context
    # alone (models trained before it, and feature variants without sentence vectors).
    danger_memory: NeighbourMemory | None = None
    # Added to log P(level) before the argmax over low / normal / high, tuned on validation for the accuracy of
    # the whole urgency decision (the classifier's raw argmax over-escalated: normal -> high, low -> normal).
    urgency_bias: dict[str, float] = field(default_factory=dict)

    def compile(self) -> None:
        """Precompute the serving form of both classifiers (see :mod:`triage.linear`).

        A label that never occurred in training has a constant predictor that cannot be compiled;
        such a model keeps the (slower, equal) sklearn path.
        """
        try:
            self.issue_fast = compile_ovr(self.issue_clf, self.labels)
            self.urgency_fast = compile_multiclass(self.urgency_clf)
        except AttributeError:
            self.issue_fast = self.urgency_fast = None

    def predict_proba(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(issue-type probabilities (n, n_labels), urgency probabilities (n, 4) in ``urgency_classes``)."""
        X = self.features.transform(texts)
        return self._issue_urgency(X)

    def _issue_urgency(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.issue_fast is not None and self.urgency_fast is not None:
            return self.issue_fast.predict_proba(X), self.urgency_fast.predict_proba(X)
        return self.issue_clf.predict_proba(X), self.urgency_clf.predict_proba(X)

    def predict(self, texts: list[str], normalised: list[str]) -> Predictions:
        """Everything the classifiers say about masked ``texts`` (``normalised``: the same, normalised), from
        one pass of the features."""
        X = self.features.transform(texts)
        issue, urgency = self._issue_urgency(X)
        ctx, reasons = [], []
        for t in normalised:
            v, r = danger_context(t)
            ctx.append(v)
            reasons.append(r)
        if self.danger_clf is None:
            return Predictions(issue, urgency, np.zeros(len(texts)), None, reasons)
        Xd = danger_matrix(danger_words(self.features, normalised, X), np.vstack(ctx), self.context_weight,
                           neighbour_features(self.danger_memory, self.features, normalised))
        kinds = self.kind_clf.predict_proba(Xd)
        order = [list(self.kind_clf.classes_).index(k) for k in KINDS]  # columns in triage.danger.KINDS order
        return Predictions(issue, urgency, self.danger_clf.predict_proba(Xd)[:, 1], kinds[:, order], reasons)

    @property
    def urgency_classes(self) -> list[str]:
        if self.urgency_clf is None and self.urgency_fast is not None:
            return list(self.urgency_fast.classes)
        return [str(c) for c in self.urgency_clf.classes_]

    def serve_only(self) -> None:
        """Drop the fitted sklearn classifiers once compiled: serving uses the compiled form (equal, tested), and
        the 80 calibrated sub-models were ~100 MB per worker. Such a model is for serving, not for saving."""
        if self.issue_fast is not None and self.urgency_fast is not None:
            self.issue_clf = None
            self.urgency_clf = None

    def urgency_level(self, probs: np.ndarray) -> str:
        """The classifier's level among low / normal / high (danger now is the detector's call alone)."""
        scores = {c: float(np.log(max(p, 1e-9))) + self.urgency_bias.get(c, 0.0)
                  for c, p in zip(self.urgency_classes, probs) if c != "emergency"}
        return max(scores, key=scores.__getitem__)


@dataclass
class Predictions:
    issue: np.ndarray  # (n, labels)
    urgency: np.ndarray  # (n, urgency classes)
    danger: np.ndarray  # (n,) P(danger now)
    kinds: np.ndarray | None  # (n, len(danger.KINDS))
    reasons: list[list[DangerReason]]  # the danger context's reasons per text


def danger_words(features: Any, normalised: list[str], X: Any = None) -> sparse.csr_matrix:
    """The detector's word features: the pipeline's TF-IDF parts (char and word n-grams) read from the text with
    intensifiers neutralised (triage.danger.neutralise). Measured in 5-fold cross-validation, the e5 part added
    more false alarms at recall 1.0 than it removed, so the detector does not use it.

    ``X``: the pipeline's output for the same texts; when no text had anything to neutralise, its leading TF-IDF
    columns are these features already (the union puts char and word first), so nothing is transformed twice."""
    if isinstance(features, ServingFeatures):
        steps = features.tfidf()
        widths = [len(t.vocabulary) for t in steps]
    else:
        steps = [step for name, step in features.named_steps["union"].transformer_list if name in ("char", "word")]
        widths = [len(step.vocabulary_) for step in steps]
    if not steps:
        return sparse.csr_matrix((len(normalised), 0))
    neutral = [neutralise(t) for t in normalised]
    if X is not None and neutral == list(normalised):
        return leading_columns(sparse.csr_matrix(X), sum(widths))
    return hstack_csr([step.transform(neutral) for step in steps])


def danger_matrix(X: Any, ctx: np.ndarray, weight: float, neighbours: np.ndarray | None = None) -> sparse.csr_matrix:
    """The danger detector's input: the message features, its context features and (when the model has a
    neighbour memory) its nearest-example features side by side."""
    parts = [X, dense_row_csr(np.asarray(ctx * weight))]  # hstack_csr takes X sparse or dense
    if neighbours is not None:
        parts.append(dense_row_csr(np.asarray(neighbours)))
    return hstack_csr(parts)


def text_encoder(features: Any) -> Encoder | None:
    """The sentence encoder attached to the features (None: a variant without sentence vectors)."""
    if isinstance(features, ServingFeatures):
        return next((p.encoder for _, p in features.parts if isinstance(p, EmbeddingPart)), None)
    from triage.features import EmbeddingFeatures

    return next((getattr(step, "encoder_", None) for _, step in features.named_steps["union"].transformer_list
                 if isinstance(step, EmbeddingFeatures)), None)


def neighbour_features(memory: NeighbourMemory | None, features: Any, normalised: list[str]) -> np.ndarray | None:
    """The danger memory's features for normalised texts, from the encoder's own vectors (unit length, not the
    centred ones the classifiers read: measured on the read blind crisis sets, centred neighbours lost the gain).
    The features have just encoded the same texts, so the encoder's query cache answers."""
    if memory is None:
        return None
    encoder = text_encoder(features)
    if encoder is None:
        raise ArtifactError("the danger detector's neighbour memory needs the sentence encoder (attach_encoder)")
    return memory.features(unit_rows(np.asarray(encoder(list(normalised)))))


def decide_labels(probs: np.ndarray, labels: list[str], thresholds: dict[str, float], abstain: float) -> list[str]:
    """The predicted set for one message, best first; [] means abstain.

    Types at or above their own threshold; if none passes but the best clears the abstain threshold,
    the best alone (every message is about something). Used by tuning and serving alike.
    """
    order = np.argsort(-probs)
    if probs[order[0]] < abstain:
        return []
    chosen = [labels[j] for j in order if probs[j] >= thresholds[labels[j]]] or [labels[order[0]]]
    # An out-of-scope matter is not also a labour one, and the reverse.
    if chosen[0] == "out_of_scope":
        return ["out_of_scope"]
    return [label for label in chosen if label != "out_of_scope"]


def library_versions() -> dict[str, str]:
    import jieba
    import scipy
    import sklearn

    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "scipy": scipy.__version__, "jieba": jieba.__version__}


# What the serving form keeps besides the features and the classifiers: thresholds and settings.
_FITTED = {"features", "issue_clf", "urgency_clf", "manifest", "issue_fast", "urgency_fast", "danger_clf", "kind_clf",
           "danger_memory"}


def write_serving_form(model: TriageModel, d: Path) -> bool:
    """Write ``serving.npz`` / ``serving.json`` into ``d``; False (nothing written) when a classifier cannot be
    compiled (a label never seen in training), and the service then loads the pickle."""
    try:  # the forms compile() made, when it ran
        compiled = {"issue": model.issue_fast or compile_ovr(model.issue_clf, model.labels),
                    "urgency": model.urgency_fast or compile_multiclass(model.urgency_clf)}
    except AttributeError:
        return False
    scalars = {f.name: getattr(model, f.name) for f in fields(model) if f.name not in _FITTED}
    memory = model.danger_memory
    arrays = {} if memory is None else {"memory_vectors": memory.vectors, "memory_emergency": memory.emergency}
    if memory is not None:
        scalars["danger_memory"] = {"k": memory.k, "weight": memory.weight}
    serving_form.write(d, ServingFeatures.from_pipeline(model.features), compiled,
                       {"danger": model.danger_clf, "kind": model.kind_clf}, scalars, arrays)
    return True


def _load_serving_form(d: Path, manifest: dict[str, Any]) -> TriageModel:
    features, compiled, linears, scalars, arrays = serving_form.read(d)
    memory_settings = scalars.pop("danger_memory", None)
    memory = None if memory_settings is None else NeighbourMemory(
        arrays["memory_vectors"], arrays["memory_emergency"].astype(bool), **memory_settings)
    return TriageModel(features=features, issue_clf=None, urgency_clf=None, manifest=manifest,
                       issue_fast=compiled["issue"], urgency_fast=compiled["urgency"],
                       danger_clf=linears.get("danger"), kind_clf=linears.get("kind"), danger_memory=memory, **scalars)


def save(model: TriageModel, root: Path, version: str, manifest: dict[str, Any], make_current: bool = True) -> Path:
    """Write ``root/version/`` atomically; optionally point ``root/CURRENT`` at it."""
    target = root / version
    tmp = root / f".{version}.tmp"
    tmp.mkdir(parents=True, exist_ok=False)
    import joblib

    encoder_backup = [getattr(s, "encoder_", None) for _, s in model.features.named_steps["union"].transformer_list]
    model.manifest = {}
    write_serving_form(model, tmp)
    model.issue_fast = model.urgency_fast = None  # derived on load; the file keeps only what was fitted
    joblib.dump(model, tmp / "model.joblib", compress=3)
    for (_, s), enc in zip(model.features.named_steps["union"].transformer_list, encoder_backup):
        if enc is not None:
            s.encoder_ = enc
    full = {
        "format_version": FORMAT_VERSION,
        "version": version,
        "labels": model.labels,
        "urgency_levels": urgency_levels(),
        "variant": model.variant,
        "libraries": library_versions(),
        "model_sha256": sha256_file(tmp / "model.joblib"),
        "serving_sha256": {name: sha256_file(tmp / name) for name in (serving_form.ARRAYS_FILE, serving_form.META_FILE)
                           if (tmp / name).exists()},
        **manifest,
    }
    (tmp / "manifest.json").write_text(json.dumps(full, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.rename(target)
    model.manifest = full
    if make_current:
        set_current(root, version)
    return target


def set_current(root: Path, version: str) -> None:
    if not (root / version / "manifest.json").exists():
        raise ArtifactError(f"no triage model version {version!r} under {root}")
    point_current(root, version)


def current_version(root: Path) -> str | None:
    path = root / CURRENT_FILE
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def read_manifest(root: Path, version: str | None) -> dict[str, Any]:
    """A version's manifest as saved, unchecked; empty when there is none or it cannot be read."""
    if not version:
        return {}
    try:
        return json.loads((root / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def list_versions(root: Path) -> list[dict[str, Any]]:
    out = []
    for d in sorted(root.glob("*/manifest.json")):
        m = json.loads(d.read_text(encoding="utf-8"))
        out.append({"version": m["version"], "variant": m.get("variant"), "metrics": m.get("metrics", {}).get("test", {}),
                    "created": m.get("created"), "current": m["version"] == current_version(root)})
    return out


def load(root: Path, version: str | None = None, embedding_id: str | None = None, serving: bool = False) -> TriageModel:
    """Load a saved model, refusing one that does not match this code, its files or the label set.

    ``serving``: read the serving form (no scikit-learn; the classifiers compiled, predictions equal) when the
    version has one; otherwise, and for training, evaluation and promotion, the pickled sklearn model."""
    version = version or current_version(root)
    if not version:
        raise ArtifactError(f"no triage model under {root}: run `jishibang train triage`")
    d = root / version
    try:
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"triage model {version}: unreadable manifest ({exc})") from exc
    served = manifest.get("serving_sha256") or {}
    use_serving = serving and set(served) == {serving_form.ARRAYS_FILE, serving_form.META_FILE}
    problems = []
    if manifest.get("format_version") != FORMAT_VERSION:
        problems.append(f"format {manifest.get('format_version')} != {FORMAT_VERSION}")
    if manifest.get("labels") != issue_types():
        problems.append("label set differs from the taxonomy")
    if not use_serving:
        import sklearn  # the pickle holds sklearn objects: only the version that wrote it reads it faithfully

        trained_with = manifest.get("libraries", {}).get("scikit-learn")
        if trained_with != sklearn.__version__:
            problems.append(f"trained with scikit-learn {trained_with}, running {sklearn.__version__}")
    if embedding_id and manifest.get("embedding_id") and manifest["embedding_id"] != embedding_id:
        problems.append("trained with a different embedding model")
    if not problems:
        # The version is one unit: a changed file anywhere in it refuses it, whichever form is read.
        files = {"model.joblib": manifest.get("model_sha256"), **(served if use_serving else {})}
        if any(not (d / name).exists() or sha256_file(d / name) != digest for name, digest in files.items()):
            problems.append("model file does not match its manifest (corrupt or replaced)")
    if problems:
        raise ArtifactError(f"refusing triage model {version}: " + "; ".join(problems))
    if use_serving:
        try:
            return _load_serving_form(d, manifest)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"refusing triage model {version}: unreadable serving form ({exc})") from exc
    import joblib

    model: TriageModel = joblib.load(d / "model.joblib")
    model.manifest = manifest
    model.compile()
    return model
