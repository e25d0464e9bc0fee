"""The knowledge base as the app uses it: the store, the derived index, and search over it.

:class:`IndexManager` keeps the current index build. Publishing or archiving an entry schedules a
rebuild on a background thread; unchanged texts reuse cached vectors, so only the changed entry is
re-encoded. The new build replaces the old one in a single reference assignment, so a search
always runs against one complete build.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from kb import index as idx
from kb.errors import RankingModelError
from kb.query import PreparedQuery, prepare_query
from kb.ranking import RankingModel
from kb.search import RERANK_FEATURES, DECISION_FEATURES, Searcher, SearchResult
from triage.situation import situation_hash
from kb.store import ChangeEvent, EntryStore
from triage.embedder import Embedder
from triage.segment import resource_hash

log = logging.getLogger("jishibang.kb")
ProgressFn = Callable[[str, int, int], None]
# Actions that can change what is published (and so what is searchable). Edits, rollbacks and restores
# only change the working copy: the published revision stays as it was, so they need no rebuild.
_INDEX_ACTIONS = {"approve", "archive", "import", "create", "flag"}


def suggestible_docs(store: EntryStore, today: date) -> list[idx.DocEntry]:
    """Published, current entries as the index sees them (their published revision's content)."""
    docs = []
    views, _ = store.list(limit=10**9)
    for v in views:
        if not v.suggestible(today):
            continue
        c = store.published_content(v)
        if c is None:
            continue
        docs.append(idx.DocEntry(v.id, v.slug, c.kind, c.title, tuple(c.issue_types), c.jurisdiction, "published",
                                 v.published_version or v.version, tuple(c.search_questions()), c.search_answer()))
    return docs


def dictionary_hash() -> str:
    """Of the segmentation tables: BM25 rows, coverage and the ranking model's features depend on them."""
    return resource_hash("dictionary.txt", "synonyms.tsv", "cantonese.tsv")


STATUTE_CHARS = 300


def statute_docs(store: EntryStore) -> list[idx.DocEntry]:
    """Imported statute articles as searchable documents (kind ``statute``).

    An article's first 300 characters carry its gist; a few run to thousands of characters, and
    encoding those at 512 tokens would make the first build take the better part of an hour on 2 cores.
    """
    return [idx.DocEntry(r["id"], f"statute-{r['id']}", "statute", f"{r['law']} {r['article']}", (), "national",
                         "published", 1, (f"{r['law']} {r['chapter']}".strip(),), r["text"][:STATUTE_CHARS])
            for r in store.statutes()]


class IndexManager:
    def __init__(self, store: EntryStore, root: Path, embedder: Embedder | None, model_id: str | None,
                 ranking_path: Path | None = None, hnsw_above: int = 50_000,
                 today: Callable[[], date] = date.today,
                 docs: Callable[[], list[idx.DocEntry]] | None = None) -> None:
        self.store = store
        self._docs = docs or (lambda: suggestible_docs(store, self.today()))
        self.root = root
        self.embedder = embedder
        self.model_id = model_id
        self.ranking_path = ranking_path
        self.ranking_problem: str | None = None  # why the ranking model is not used (None: it is, or none is set)
        self.hnsw_above = hnsw_above
        self.today = today
        self.cache = idx.VectorCache(root / "vectors.npz")
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()  # one rebuild at a time
        self._state = threading.Lock()  # guards _pending/_running
        self._pending = False
        self._running = False
        self._idle = threading.Event()
        self._idle.set()
        self.rebuilds = 0
        # Other processes (API workers sharing the data dir) rebuild after their own changes and move the
        # CURRENT pointer; searches look at it at most this often and load the newer build.
        self.follow_seconds = 2.0
        self._checked_at = 0.0
        store.listeners.append(self.on_change)

    # --- the current index -------------------------------------------------------------------------

    @property
    def searcher(self) -> Searcher | None:
        return self._searcher

    def _encoders(self) -> tuple[idx.EncodeFn | None, idx.EncodeFn | None]:
        if self.embedder is None:
            return None, None
        self.embedder.warm_up()
        return self.embedder.encode_queries, self.embedder.encode_passages

    def ranking_record(self) -> dict[str, object]:
        """What a ranking model must have been fitted on to be used with this index."""
        return {"model_id": self.model_id if self.embedder else None, "dictionary_hash": dictionary_hash(),
                "situation_hash": situation_hash(), "rerank_features": list(RERANK_FEATURES),
                "decision_features": list(DECISION_FEATURES)}

    def load_ranking(self) -> RankingModel | None:
        """The ranking model, checked against this index's vectors, dictionary and features; a mismatch is
        refused (searches then keep the fused order and never answer confidently) and its reason kept."""
        self.ranking_problem = None
        if not self.ranking_path:
            return None
        try:
            model = RankingModel.load(self.ranking_path)
            if model is None:
                self.ranking_problem = f"no ranking model at {self.ranking_path}: run `jishibang train search`"
                return None
            model.check(self.ranking_record())
            return model
        except RankingModelError as exc:
            self.ranking_problem = f"ranking model refused: {exc}"
            log.error("%s", self.ranking_problem)
            return None

    def _make_searcher(self, build: idx.IndexBuild) -> Searcher:
        q, _ = self._encoders()
        searcher = Searcher(build, q, self.load_ranking())
        searcher.warm_up()
        return searcher

    def load_or_build(self, progress: ProgressFn | None = None) -> Searcher:
        """Use the saved index when it matches the database and model; otherwise rebuild."""
        build = idx.load(self.root)
        docs = self._docs()
        wanted = {str(d.entry_id): d.version for d in docs}
        if build is not None and build.manifest.get("entry_versions") == wanted and (
            build.manifest.get("model_id") == (self.model_id if self.embedder else None)
        ) and build.manifest.get("dictionary_hash") == dictionary_hash():
            self._searcher = self._make_searcher(build)
            return self._searcher
        return self.rebuild(progress, docs)

    def rebuild(self, progress: ProgressFn | None = None, docs: list[idx.DocEntry] | None = None) -> Searcher:
        with self._lock:
            docs = docs if docs is not None else self._docs()
            q, p = self._encoders()
            build = idx.build(docs, q, p, self.cache, self.model_id, self.hnsw_above, progress)
            idx.save(build, self.root)
            searcher = self._make_searcher(build)
            self._searcher = searcher  # the swap: one reference assignment
            self.rebuilds += 1
            log.info("index rebuilt: %d entries, %d rows in %.2fs", build.manifest["entries"], build.manifest["rows"],
                     build.manifest["build_seconds"])
            return searcher

    def reload_ranking(self) -> None:
        if self._searcher is not None:
            self._searcher = self._make_searcher(self._searcher.build)

    # --- incremental updates -----------------------------------------------------------------------

    def on_change(self, event: ChangeEvent) -> None:
        if event.action in _INDEX_ACTIONS and self._searcher is not None:
            self.schedule_rebuild()

    def schedule_rebuild(self) -> None:
        """Coalesce bursts of changes into one background rebuild."""
        with self._state:
            self._pending = True
            self._idle.clear()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="kb-reindex", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._state:
                if not self._pending:
                    self._running = False
                    self._idle.set()
                    return
                self._pending = False
            try:
                self.rebuild()
            except Exception:  # keep serving the old index; the next change retries
                log.exception("background reindex failed")

    def wait_idle(self, timeout: float = 60.0) -> bool:
        return self._idle.wait(timeout)

    # --- search ------------------------------------------------------------------------------------

    def follow(self, force: bool = False) -> bool:
        """Load the build another process pointed CURRENT at, if it is newer than ours; True when loaded."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.follow_seconds:
            return False
        self._checked_at = now
        current = self._searcher
        if current is None or current.build.path is None or self._lock.locked():
            return False  # nothing loaded yet, or our own rebuild is about to swap
        try:
            name = (self.root / idx.CURRENT).read_text(encoding="utf-8").strip()
        except OSError:
            return False
        if name == current.build.path.name:
            return False
        build = idx.load(self.root)
        if build is None or build.manifest.get("model_id") != current.build.manifest.get("model_id") or \
                build.manifest.get("dictionary_hash") != dictionary_hash():
            return False
        self._searcher = self._make_searcher(build)
        log.info("loaded the index another worker built: %s", name)
        return True

    def search(self, query: PreparedQuery | str, **kwargs) -> SearchResult:  # type: ignore[no-untyped-def]
        """``query``: prepared by kb.query (a plain string is prepared here, the same way)."""
        if isinstance(query, str):
            query = prepare_query(query)
        searcher = self._searcher
        if searcher is None:
            searcher = self.load_or_build()
        elif self.follow():
            searcher = self._searcher or searcher
        return searcher.search(query, **kwargs)
