"""Wiring: settings -> database, store, embedder, index and triage model. Used by the app and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pydantic import SecretStr

from api.jobs import index_sharing
from api.settings import Settings
from hotline.accounts import Accounts
from hotline.assist import Assistant, Contacts
from hotline.audit import AuditLog
from hotline.cases import CaseStore
from hotline.feedback import FeedbackLog, QuestionLog
from hotline.paraphrases import ParaphraseProposals
from hotline.sealing import Sealer, secret_from
from hotline.standing import Standings
from hotline.wechat.service import WeChat, WeChatConfig
from kb.db import make_engine, migrate, session_factory
from kb.seeding import seed
from kb.service import IndexManager
from kb.store import EntryStore
from models.registry import ServedTriager
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
    served: ServedTriager = field(repr=False)
    statutes: IndexManager | None = None
    # The learning loop (set by open_runtime): entry standing from feedback, paraphrase proposals.
    standings: Standings = field(init=False, repr=False)
    paraphrases: ParaphraseProposals = field(init=False, repr=False)
    # The WeChat Official Account channel (set by open_runtime; receiving is off without wechat_token).
    wechat: WeChat = field(init=False, repr=False)
    # Seals personal data kept for a purpose (a worker's call-back number).
    sealer: Sealer = field(init=False, repr=False)

    @property
    def triager(self) -> Triager:
        # Follows the model dir's CURRENT pointer: a promotion or rollback reaches a running service.
        return self.served.get()


def open_runtime(settings: Settings, migrate_db: bool = True, embedder: Embedder | None = None,
                 dense_index: bool = True) -> Runtime:
    """Connect to the database (migrating it), and set up the embedder and index manager (lazy).

    ``embedder``: another embedder with the same interface (tests pass triage.fake_embedder.HashEmbedder);
    ``dense_index=False``: a BM25-only index (no vectors)."""
    settings.ensure_dirs()
    if migrate_db:
        migrate(settings.sqlalchemy_url)
    factory = session_factory(make_engine(settings.sqlalchemy_url))
    store = EntryStore(factory, today=date.today)
    embedder = embedder or Embedder(settings.embedding_model_path, **settings.embedder_options)  # type: ignore[arg-type]
    index = IndexManager(store, settings.index_dir / "entries", embedder if dense_index else None,
                         embedder.identity if dense_index else None,
                         vector_seed=settings.vector_seed_path(embedder.identity) if dense_index else None,
                         ranking_path=settings.ranking_model_path, hnsw_above=settings.hnsw_above,
                         **index_sharing(settings, factory))  # several machines: api.jobs
    # The question log is written on every suggestion and answer: its commits do not wait for the disk (a
    # crash of the process loses nothing; see kb.db.make_engine), which takes an fsync off each request.
    questions = QuestionLog(session_factory(make_engine(settings.sqlalchemy_url, pool_size=2, wait_for_disk=False)))
    standings = Standings(factory)
    served = ServedTriager(settings.model_dir, embedder)
    assistant = Assistant(served.get, index, store, questions,
                          Contacts(settings.hotline_contact, settings.hotline_wechat), standing=standings.multipliers)
    rt = Runtime(settings, store, embedder, index, Accounts(factory, settings.token_hours), CaseStore(factory),
                 FeedbackLog(factory), questions, AuditLog(factory), assistant, served)
    rt.standings = standings
    rt.paraphrases = ParaphraseProposals(factory, store, embedder.encode_queries)
    rt.wechat = WeChat(wechat_config(settings), factory, assistant, rt.cases, assistant.contacts)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    rt.sealer = Sealer(secret_from(secret, settings.data_dir))
    return rt



def wechat_config(settings: Settings) -> WeChatConfig:
    def secret(value: SecretStr | None) -> str | None:
        return (value.get_secret_value() or None) if value is not None else None

    return WeChatConfig(
        token=secret(settings.wechat_token), app_id=settings.wechat_app_id or None,
        app_secret=secret(settings.wechat_app_secret), aes_key=secret(settings.wechat_aes_key),
        api_base=settings.wechat_api_base, conversation_minutes=settings.wechat_conversation_minutes,
        reply_window_hours=settings.wechat_reply_window_hours,
        reply_budget_seconds=settings.wechat_reply_budget_seconds,
        replay_window_seconds=settings.wechat_replay_window_seconds,
        send_max_attempts=settings.wechat_send_max_attempts, retry_base_seconds=settings.wechat_retry_base_seconds,
        retry_max_seconds=settings.wechat_retry_max_seconds, outbox_poll_seconds=settings.wechat_outbox_poll_seconds)


def seed_if_empty(rt: Runtime) -> dict[str, int] | None:
    """First start: load statutes and the team's entries."""
    from kb.locks import advisory_lock

    with advisory_lock(rt.store.factory, "seed"):  # several processes starting on one empty PostgreSQL database
        if rt.store.list(limit=1)[1]:
            return None
        return seed(rt.store, rt.settings.shared_dir)
