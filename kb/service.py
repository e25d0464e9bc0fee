"""The knowledge base as the app uses it: the store, the derived index, and search over it.

:class:`IndexManager` keeps the current index build. Publishing or archiving an entry schedules a
rebuild on a background thread; unchanged texts reuse cached vectors, so only the changed entry is
re-encoded. The new build replaces the old one in a single reference assignment, so a search
always runs against one complete build.

Two ways to share builds between processes:

- **on disk** (SQLite, one machine): processes that share the data dir follow its ``CURRENT`` pointer;
- **in the database** (``builds`` given: PostgreSQL, several machines): a change records a build request;
  a builder (this process, or ``jishibang worker`` when ``enqueue`` hands the rebuild to the job queue)
  builds, saves under the content's name and records the build (:mod:`kb.builds`); every process hears
  of it (LISTEN/NOTIFY, polling as the fallback), fetches that exact build, checks it, and swaps it in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from kb import index as idx
from kb.builds import BuildListener, BuildMismatch, BuildRecord, BuildRegistry, build_name
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
                 docs: Callable[[], list[idx.DocEntry]] | None = None,
                 builds: BuildRegistry | None = None, enqueue: Callable[[], None] | None = None,
                 vector_seed: Path | None = None) -> None:
        self.store = store
        # Builds recorded in the database (several machines); None: on disk only (today's single machine).
        self.builds = builds
        # Hands a rebuild to the job queue (`jishibang worker`); None: this process rebuilds itself.
        self.enqueue = enqueue
        self._listener: BuildListener | None = None
        self._follow_lock = threading.Lock()
        self._docs = docs or (lambda: suggestible_docs(store, self.today()))
        self.root = root
        self.embedder = embedder
        self.model_id = model_id
        self.ranking_path = ranking_path
        self.ranking_problem: str | None = None  # why the ranking model is not used (None: it is, or none is set)
        self.hnsw_above = hnsw_above
        self.today = today
        self.cache = idx.VectorCache(root / "vectors.npz", seed=vector_seed)
        self.vector_seed = vector_seed
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
        """Use the saved index when it matches the database and model; otherwise rebuild.

        With recorded builds: serve the newest recorded build for this model and dictionary (fetched when
        this machine does not have it yet); build and record one only when none is recorded. A newer
        change than that build's snapshot gets a rebuild after the start (queued or in the background)."""
        if self.builds is not None:
            return self._load_or_build_recorded(progress)
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
            # Recorded builds: the watermark is read before the entries, so the build covers every change
            # up to it (and maybe later ones).
            covers = self.builds.watermark() if self.builds is not None else 0
            docs = docs if docs is not None else self._docs()
            q, p = self._encoders()
            build = idx.build(docs, q, p, self.cache, self.model_id, self.hnsw_above, progress)
            if self.builds is not None:
                name = build_name(idx.content_key(build.manifest))
                build.manifest["covers"] = covers
                idx.save(build, self.root, name)
                self.builds.record(build, covers)  # the commit is the moment other machines may serve it
            else:
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
        if event.action not in _INDEX_ACTIONS:
            return
        if self.builds is not None:
            self.builds.request(event.action, event.entry_id)  # the watermark every machine converges to
            if self.enqueue is not None:
                self.request_rebuild()
                return
        if self._searcher is not None:
            self.schedule_rebuild()

    def request_rebuild(self) -> None:
        """Recorded builds: hand the rebuild to the job queue, or build here when there is none."""
        if self.enqueue is None:
            self.schedule_rebuild()
            return
        try:
            self.enqueue()
        except Exception:  # the queue is down: the worker's periodic check still finds the build due
            log.exception("could not queue the index rebuild")

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
        """Load the build another process pointed CURRENT at, if it is newer than ours; True when loaded.
        With recorded builds: the newest recorded build instead (see :meth:`follow_recorded`)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.follow_seconds:
            return False
        self._checked_at = now
        if self.builds is not None:
            return self.follow_recorded()
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
        elif self._listener is None and self.follow():  # a listener thread follows recorded builds itself
            searcher = self._searcher or searcher
        return searcher.search(query, **kwargs)

    # --- builds recorded in the database ------------------------------------------------------------

    def identity(self) -> tuple[str | None, str]:
        """What a build must have been made with to be served here: the vectors' model id, the dictionary."""
        return (self.model_id if self.embedder else None), dictionary_hash()

    def _load_recorded(self, rec: BuildRecord) -> Searcher:
        """Fetch (when not on disk yet), check and swap in one recorded build."""
        assert self.builds is not None
        path = self.builds.fetch(rec, self.root)
        build = idx.load(self.root, path.name)
        if build is None:
            raise BuildMismatch(f"{rec.name}: incomplete on disk")
        m = build.manifest
        if idx.content_key(m) != rec.key or {k: int(v) for k, v in m["entry_versions"].items()} != rec.entry_versions \
                or (m.get("model_id"), m.get("dictionary_hash")) != (rec.model_id, rec.dictionary_hash):
            raise BuildMismatch(f"{rec.name}: its manifest is not the recorded build's")
        searcher = self._make_searcher(build)
        idx.set_current(self.root, rec.name)  # a restart (and workers sharing this data dir) start from it
        self._searcher = searcher  # the swap: one reference assignment
        idx._prune(self.root, keep={rec.name})  # the fetched builds before it, but the newest two
        return searcher

    def _load_or_build_recorded(self, progress: ProgressFn | None) -> Searcher:
        assert self.builds is not None
        rec = self.builds.newest(*self.identity())
        if rec is None:
            return self.rebuild(progress)  # nothing recorded for these vectors yet: build and record it
        try:
            searcher = self._load_recorded(rec)
        except BuildMismatch as exc:  # never serve it: build our own (recorded too: the same content, one name)
            log.error("recorded index build refused, building one here: %s", exc)
            return self.rebuild(progress)
        if self.builds.watermark() > rec.covers:
            self.request_rebuild()
        return searcher

    def follow_recorded(self) -> bool:
        """Serve the newest recorded build if it is not the one served; True when swapped."""
        if self.builds is None or self._lock.locked():
            return False  # our own rebuild is about to swap (and record) a build
        with self._follow_lock:
            rec = self.builds.newest(*self.identity())
            current = self._searcher
            if rec is None or (current is not None and current.build.path is not None
                               and current.build.path.name == rec.name):
                return False
            if current is not None and current.build.manifest.get("covers", -1) > rec.covers:
                return False  # ours is newer (this process built it; its record is on its way)
            self._load_recorded(rec)
            log.info("serving the recorded index build %s (covers request %d, built by %s)", rec.name, rec.covers,
                     rec.built_by)
            return True

    def start_following(self, sqlalchemy_url: str, poll_seconds: float = 10.0) -> None:
        """Listen for recorded builds (PostgreSQL LISTEN/NOTIFY) and poll every ``poll_seconds`` as well."""
        if self.builds is None or self._listener is not None:
            return
        self._listener = BuildListener(sqlalchemy_url, self.follow_recorded, poll_seconds)
        self._listener.start()

    def stop_following(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
