"""The search index, derived from the database: BM25 over jieba tokens and faiss over e5 vectors.

Each entry contributes several rows: its title, question and every paraphrase (as questions people
ask, embedded as queries), and its answers (embedded as a passage). A search returns one hit per
entry. An index is built in a fresh directory with a manifest and then swapped in atomically: readers
hold a reference to a complete index and never see a half-built one. Row vectors are cached by text,
so an update after one entry is published re-encodes only that entry's texts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triage.segment import Segmenter, resource_hash
from triage.files import point_current, save_vectors, writer_id

EncodeFn = Callable[[Sequence[str]], np.ndarray]
CURRENT = "CURRENT"


@dataclass(frozen=True, slots=True)
class DocEntry:
    """What the index knows of an entry (enough to filter and to show a hit)."""

    entry_id: int
    slug: str
    kind: str
    title: str
    issue_types: tuple[str, ...]
    jurisdiction: str
    status: str
    version: int
    questions: tuple[str, ...]
    answer: str


@dataclass
class Rows:
    entry_pos: np.ndarray  # row -> position in entries
    field: list[str]  # "question" | "answer"
    texts: list[str]


@dataclass
class IndexBuild:
    """A complete, immutable index. Searches hold one of these; a rebuild makes a new one."""

    entries: list[DocEntry]
    rows: Rows
    bm25: Any
    faiss_index: Any | None
    dim: int | None
    manifest: dict[str, Any]
    path: Path | None = None
    doc_freq: dict[str, int] = field(default_factory=dict)  # token -> rows containing it (for IDF weights)
    pos_by_id: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pos_by_id = {e.entry_id: i for i, e in enumerate(self.entries)}


class VectorCache:
    """Row vectors by (prefix kind, text) hash, kept on disk between builds.

    ``seed``: a read-only cache shared by every data dir on the machine (kept beside the models by `make models`,
    for one embedding identity): a new data dir's first build encodes only what the seed does not hold, so a
    fresh service is ready in seconds instead of a minute."""

    def __init__(self, path: Path | None, seed: Path | None = None) -> None:
        self.path = path
        self._vecs: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        for source in (seed, path):
            if source and source.exists():
                try:
                    data = np.load(source, allow_pickle=False)
                    self._vecs.update(zip(data["keys"].tolist(), data["vectors"]))
                except (OSError, ValueError, KeyError):  # a damaged cache costs an encoding pass, nothing else
                    continue
        self._dirty = False

    def save_as(self, path: Path) -> None:
        """Write the whole cache to ``path`` (atomically), e.g. as the machine's seed."""
        with self._lock:
            if not self._vecs:
                return
            keys = np.array(list(self._vecs))
            vectors = np.vstack(list(self._vecs.values()))
        save_vectors(path, keys, vectors)

    @staticmethod
    def key(kind: str, text: str) -> str:
        return hashlib.sha1(f"{kind}\x00{text}".encode()).hexdigest()

    def get_many(self, kind: str, texts: list[str], encode: EncodeFn, progress: Callable[[int], None] | None = None,
                 batch: int = 64) -> np.ndarray:
        keys = [self.key(kind, t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self._vecs))
        for i in range(0, len(missing), batch):
            chunk = missing[i : i + batch]
            vecs = encode(chunk)
            with self._lock:
                for t, v in zip(chunk, vecs):
                    self._vecs[self.key(kind, t)] = np.asarray(v, dtype=np.float32)
                self._dirty = True
            if progress:
                progress(len(chunk))
        return np.vstack([self._vecs[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def missing(self, kind: str, texts: list[str]) -> int:
        return sum(1 for t in set(texts) if self.key(kind, t) not in self._vecs)

    def save(self) -> None:
        if not (self.path and self._dirty and self._vecs):
            return
        with self._lock:
            keys = np.array(list(self._vecs))
            vectors = np.vstack(list(self._vecs.values()))
            self._dirty = False
        save_vectors(self.path, keys, vectors)


def make_rows(entries: list[DocEntry]) -> Rows:
    pos, fields, texts = [], [], []
    for i, e in enumerate(entries):
        for q in e.questions:
            pos.append(i), fields.append("question"), texts.append(q)
        pos.append(i), fields.append("answer"), texts.append(e.answer)
    return Rows(np.asarray(pos, dtype=np.int64), fields, texts)


def _faiss_index(vectors: np.ndarray, hnsw_above: int) -> Any:
    import faiss

    dim = vectors.shape[1]
    if len(vectors) > hnsw_above:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def build(
    entries: list[DocEntry],
    encode_queries: EncodeFn | None,
    encode_passages: EncodeFn | None,
    cache: VectorCache | None = None,
    model_id: str | None = None,
    hnsw_above: int = 50_000,
    progress: Callable[[str, int, int], None] | None = None,
    segmenter: Segmenter | None = None,
) -> IndexBuild:
    """Build a complete index in memory. Without encoders the index is BM25-only."""
    import bm25s

    t0 = time.perf_counter()
    segmenter = segmenter or Segmenter()
    rows = make_rows(entries)
    tokens = [segmenter(t) or ["∅"] for t in rows.texts]
    if progress:
        progress("tokenised", len(tokens), len(tokens))
    bm25 = bm25s.BM25()
    if tokens:
        bm25.index(tokens, show_progress=False)
    else:  # nothing published yet: bm25s cannot index an empty corpus; an empty build answers nothing
        bm25 = None
    doc_freq: dict[str, int] = {}
    for toks in tokens:
        for t in set(toks):
            doc_freq[t] = doc_freq.get(t, 0) + 1
    faiss_index, dim = None, None
    if encode_queries is not None and encode_passages is not None and rows.texts:
        cache = cache or VectorCache(None)
        q_idx = [i for i, f in enumerate(rows.field) if f == "question"]
        a_idx = [i for i, f in enumerate(rows.field) if f == "answer"]
        todo = cache.missing("query", [rows.texts[i] for i in q_idx]) + cache.missing("passage", [rows.texts[i] for i in a_idx])
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress("embedding", done[0], todo)

        qv = cache.get_many("query", [rows.texts[i] for i in q_idx], encode_queries, tick)
        av = cache.get_many("passage", [rows.texts[i] for i in a_idx], encode_passages, tick)
        dim = int(qv.shape[1] if len(qv) else av.shape[1])
        vectors = np.zeros((len(rows.texts), dim), dtype=np.float32)
        if len(q_idx):
            vectors[q_idx] = qv
        if len(a_idx):
            vectors[a_idx] = av
        faiss_index = _faiss_index(vectors, hnsw_above)
        cache.save()
    manifest = {
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "model_id": model_id if faiss_index is not None else None,
        "entries": len(entries),
        "rows": len(rows.texts),
        "entry_versions": {str(e.entry_id): e.version for e in entries},
        "index_type": type(faiss_index).__name__ if faiss_index is not None else None,
        # The BM25 rows were segmented with these tables: another dictionary needs another build.
        "dictionary_hash": resource_hash("dictionary.txt", "synonyms.tsv", "cantonese.tsv"),
    }
    return IndexBuild(entries, rows, bm25, faiss_index, dim, manifest, doc_freq=doc_freq)


def content_key(manifest: dict[str, Any]) -> str:
    """What a build is, whoever built it: its entries' versions, its vectors and its segmentation tables.
    Two builds with one key answer alike (same rows, same tokens, same vectors)."""
    what = {"entry_versions": manifest.get("entry_versions"), "model_id": manifest.get("model_id"),
            "dictionary_hash": manifest.get("dictionary_hash")}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def save(build_: IndexBuild, root: Path, name: str | None = None) -> Path:
    """Write a build to its own directory, then point CURRENT at it (an atomic rename).

    ``name``: the directory name (default: the time and a hash of the entry versions). Builds recorded in the
    database are named by their content (``kb.builds``), so every machine calls one build by one name."""
    import faiss

    root.mkdir(parents=True, exist_ok=True)
    name = name or f"build-{time.strftime('%Y%m%dT%H%M%S')}-{hashlib.sha1(json.dumps(build_.manifest['entry_versions'], sort_keys=True).encode()).hexdigest()[:8]}"
    # Temp names are private to this writer: API workers sharing the data dir can save the same build at
    # the same moment (both rebuild at start), and a shared temp dir let one delete the other's files.
    tmp = root / f".{name}.{writer_id()}.tmp"
    tmp.mkdir()
    (tmp / "entries.json").write_text(json.dumps([asdict(e) for e in build_.entries], ensure_ascii=False), encoding="utf-8")
    if build_.bm25 is not None:
        build_.bm25.save(str(tmp / "bm25"))
    if build_.faiss_index is not None:
        faiss.write_index(build_.faiss_index, str(tmp / "vectors.faiss"))
    (tmp / "doc_freq.json").write_text(json.dumps(build_.doc_freq, ensure_ascii=False), encoding="utf-8")
    (tmp / "manifest.json").write_text(json.dumps(build_.manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    target = root / name
    try:
        tmp.rename(target)
    except OSError:
        if not (target / "manifest.json").exists():
            raise
        # Another writer saved this very build (same second, same entries and versions) first: keep its
        # complete copy, which readers may be loading, rather than deleting it.
        shutil.rmtree(tmp, ignore_errors=True)
    set_current(root, name)
    build_.path = target
    _prune(root, keep={name})
    return target


def set_current(root: Path, name: str) -> None:
    """Point CURRENT at the build directory ``name`` (an atomic rename)."""
    point_current(root, name)


def build_files(path: Path) -> list[tuple[str, Path]]:
    """A saved build's files as (path relative to the build directory, file), in a stable order."""
    return sorted((f.relative_to(path).as_posix(), f) for f in path.rglob("*") if f.is_file())


def _prune(root: Path, keep: set[str], spare: int = 2) -> None:
    """Keep the current build and a couple of older ones (readers may still hold them)."""
    builds = sorted((p for p in root.glob("build-*") if p.is_dir() and p.name not in keep), key=_age)
    for old in builds[:-spare] if spare else builds:
        shutil.rmtree(old, ignore_errors=True)
    # Temp dirs of writers that died mid-save (a save takes seconds; an hour-old one is abandoned).
    for stale in root.glob(".build-*.tmp"):
        try:
            if time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            continue


def _age(path: Path) -> tuple[float, str]:
    """Oldest first: by when the directory was written (content-named builds do not sort by name)."""
    try:
        return path.stat().st_mtime, path.name
    except OSError:
        return 0.0, path.name


def load(root: Path, name: str | None = None) -> IndexBuild | None:
    """The build CURRENT points at (or the build directory ``name``), or None when there is none (or it is
    incomplete)."""
    import bm25s
    import faiss

    if name is None:
        pointer = root / CURRENT
        if not pointer.exists():
            return None
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return None
    path = root / name
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        raw = json.loads((path / "entries.json").read_text(encoding="utf-8"))
        doc_freq = json.loads((path / "doc_freq.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entries = [DocEntry(**{**r, "issue_types": tuple(r["issue_types"]), "questions": tuple(r["questions"])}) for r in raw]
    try:
        bm25 = bm25s.BM25.load(str(path / "bm25")) if (path / "bm25").exists() else None
        fi = faiss.read_index(str(path / "vectors.faiss")) if (path / "vectors.faiss").exists() else None
    except (OSError, RuntimeError, ValueError):  # pruned by another worker while loading (faiss raises RuntimeError)
        return None
    return IndexBuild(entries, make_rows(entries), bm25, fi, fi.d if fi is not None else None, manifest, path, doc_freq)
