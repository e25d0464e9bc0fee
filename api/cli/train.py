"""``jishibang train`` and ``jishibang eval`` (the triage model, the search ranking model, their evaluations)
and ``jishibang triage``: the served triage model on one message or a file of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import CliError, _bar, _print_json, _runtime
from api.settings import get_settings

train_app = typer.Typer(help="Train models on the labelled data.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models on held-out data; each prints JSON.", no_args_is_help=True)
commands = typer.Typer()  # the top-level command: triage


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


@commands.command(
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
    from kb.db import migrate
    from models.feedback_data import load_feedback
    from models.promotion import GatePolicy, retrain_with_feedback
    from triage.features import VARIANTS

    settings = get_settings()
    bad = [v for v in variants or [] if v not in VARIANTS]
    if bad:
        raise CliError(f"--variant must be one of {', '.join(VARIANTS)}, not {', '.join(bad)}")
    migrate(settings.sqlalchemy_url)
    corrections, danger = load_feedback(settings.sqlalchemy_url)
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
    crisis_set: Annotated[list[str] | None, typer.Option(
        "--crisis-set", help="Only these blind crisis sets (triage/eval/blindN); each is run once, at the end of the "
                             "work it judges, so a later set can stay unrun.")] = None,
    triage_set: Annotated[list[str] | None, typer.Option(
        "--triage-set", help="Only these blind answer sets' urgency and referral labels (kb/eval/blindN).")] = None,
    read_sets: Annotated[bool, typer.Option(
        "--read-sets", help="Also urgency and the first referral on the retired answer sets, pooled (training data "
                            "now: a wide check for a change to the referral rules, not an unseen figure).")] = False,
) -> None:
    """The danger-now detector, urgency and the first referral on the blind crisis and triage sets (written by
    people who never saw the corpus or the cue files) and the held-out crisis split (JSON)."""
    from models.answer_eval import blind_sets
    from models.retired_sets import chosen_sets
    from models.urgency_eval import blind_crisis_sets, evaluate

    try:  # before the models load: a mistyped set name fails at once
        chosen_sets(crisis_set, blind_crisis_sets(), "crisis")
        chosen_sets(triage_set, blind_sets(), "blind answer")
    except ValueError as e:
        raise CliError(str(e)) from e
    settings = get_settings()
    _print_json(evaluate(_triager(), settings.shared_dir, blind=not no_blind, crisis_sets=crisis_set,
                         triage_sets=triage_set, read_sets=read_sets))


@eval_app.command("answers", epilog="Example: jishibang eval answers > answers.json")
def eval_answers_cmd(
    only: Annotated[list[str] | None, typer.Option(
        "--set", help="Only these blind sets (kb/eval/blindN); each is run once, at the end of the work it judges, "
                      "so a later set can stay unrun.")] = None,
) -> None:
    """Worker answers and operator suggestions end to end on the blind sets (kb/eval/blindN not yet retired) and the real lawbench
    labour consultations: acceptable first, wrong confident answers, tiers, banner, by channel (JSON)."""
    from models.answer_eval import blind_sets, evaluate
    from models.retired_sets import chosen_sets

    try:  # the retired sets are training data now (models/retired_sets.py)
        names = chosen_sets(only, blind_sets(), "blind answer")
    except ValueError as e:
        raise CliError(str(e)) from e
    if not names:
        raise CliError("no blind answer set is left under kb/eval: write one first (kb/eval/README.md)")
    rt = _runtime()
    rt.index.load_or_build(_bar())
    report = {"blind_set": names[0], **evaluate(rt.assistant, rt.settings.shared_dir, blind_set=names[0])}
    # Later blind sets, each written for the work after the one before it, side by side.
    report["later_blind_sets"] = {name: evaluate(rt.assistant, blind_set=name) for name in names[1:]}
    _print_json(report)


@eval_app.command("gaps", epilog="Example: jishibang eval gaps")
def eval_gaps() -> None:
    """Gap clustering: threshold chosen on the calibration queries, ARI / homogeneity / completeness on the
    held-out evaluation queries (questions with the same relevant entry belong together)."""
    from models.gap_eval import evaluate
    from triage.embedder import Embedder

    _print_json(evaluate(Embedder(get_settings().embedding_model_path, **get_settings().embedder_options).encode_queries))


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
    new_entries: Annotated[bool, typer.Option(help="Also search every entry by its own questions as if it had been "
                                              "published after the ranking model was fitted (a few minutes).")] = False,
) -> None:
    """Acceptable@1/@3, preferred@1, MRR, tiers and wrong confident answers for BM25, dense and hybrid, with
    triage's issue types as served (kb/eval; never used for fitting)."""
    from models.search_eval import evaluate, load_queries, statute_recall
    from models.search_eval import new_entries as as_if_new

    rt = _runtime()
    searcher = rt.index.load_or_build(_bar())
    report = evaluate(searcher, load_queries(), analyse=rt.triager.analyse_many)
    if new_entries:
        report["new_entries"] = as_if_new(searcher, analyse=rt.triager.analyse_many)
    if statutes:
        report["lawbench_statutes"] = statute_recall(_statute_searcher(rt), rt.settings.shared_dir)
    _print_json(report)


def _statute_searcher(rt):  # type: ignore[no-untyped-def]
    from kb.service import IndexManager, statute_docs

    manager = IndexManager(rt.store, rt.settings.index_dir / "statutes", rt.embedder, rt.index.model_id,
                           hnsw_above=rt.settings.hnsw_above, docs=lambda: statute_docs(rt.store))
    return manager.load_or_build(_bar())
