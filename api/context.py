"""Wiring: settings -> database, store, embedder, index and triage model. Used by the app and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from api.settings import Settings
from hotline.accounts import Accounts
from hotline.assist import Assistant, Contacts
from hotline.audit import AuditLog
from hotline.cases import CaseStore
from hotline.feedback import FeedbackLog, QuestionLog
from kb.db import make_engine, migrate, session_factory
from kb.seeding import seed
from kb.service import IndexManager
from kb.store import EntryStore
from models.registry import embedding_id, load_triager
from triage.embedder import Embedder
from triage.pipeline import Triager


@dataclass
class Runtime:
    settings: Settings
    store: EntryStore
    embedder: Embedder
    index: IndexManager
    accounts: Accounts
    cases: CaseStore
    feedback: FeedbackLog
    questions: QuestionLog
    audit: AuditLog
    assistant: Assistant
    statutes: IndexManager | None = None
    _triager: Triager | None = field(default=None, repr=False)

    @property
    def triager(self) -> Triager:
        if self._triager is None:
            self._triager = load_triager(self.settings.model_dir, self.embedder)
        return self._triager


def open_runtime(settings: Settings, migrate_db: bool = True) -> Runtime:
    """Connect to the database (migrating it), and set up the embedder and index manager (lazy)."""
    settings.ensure_dirs()
    if migrate_db:
        migrate(settings.sqlalchemy_url)
    factory = session_factory(make_engine(settings.sqlalchemy_url))
    store = EntryStore(factory, today=date.today)
    embedder = Embedder(settings.embedding_model_path, **settings.embedder_options)  # type: ignore[arg-type]
    model_id = embedding_id(settings.embedding_model_path)
    index = IndexManager(store, settings.index_dir / "entries", embedder, model_id,
                         calibrator_path=settings.search_calibrator_path, hnsw_above=settings.hnsw_above)
    questions = QuestionLog(factory)
    holder: list[Runtime] = []
    assistant = Assistant(lambda: holder[0].triager, index, store, questions,
                          Contacts(settings.hotline_contact, settings.hotline_wechat))
    rt = Runtime(settings, store, embedder, index, Accounts(factory, settings.token_hours), CaseStore(factory),
                 FeedbackLog(factory), questions, AuditLog(factory), assistant)
    holder.append(rt)
    return rt


def seed_if_empty(rt: Runtime) -> dict[str, int] | None:
    """First start: load statutes and the team's entries."""
    if rt.store.list(limit=1)[1]:
        return None
    return seed(rt.store, rt.settings.shared_dir)
