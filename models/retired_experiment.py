"""Does training on other writers' retired blind sets help on a new writer's messages? The measurement behind
models/retired_sets.py, rerunnable (each held-out set is a read set, never the sets still blind):

    python -m models.retired_experiment danger    # ~20 min: the danger detector, each crisis set held out in turn
    python -m models.retired_experiment ranking   # ~40 min: triage and ranking models, the newest answer set held out

``danger``: the detector refitted (models/train_danger.fit_danger) on the served triage model's features, once on
the crisis corpus alone (every retired set held out) and once per retired set with the other retired sets added;
recall, false emergencies and safety checks on the held-out set. The features' vocabulary was fitted with the
retired texts in it (no labels), as served.
``ranking``: the triage model and then the ranking model trained in a copy of the model directory, once without
the retired answer sets and once with all but the newest, then `eval answers` figures on the newest, leaving out
its messages that near-copy an older set's (12 of blind7's).
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from models import retired_sets

FIGURES = ("recall", "false_alarm_rate", "recall_with_check", "check_rate")


def danger() -> None:
    from api.settings import get_settings
    from models import eval_triage
    from models.crisis_data import by_split, from_corpus, load_crisis
    from models.registry import load_triager
    from models.train_danger import fit_danger
    from models.triage_data import load_corpus
    from models.urgency_eval import load_blind_crisis
    from triage.embedder import Embedder
    from triage.pipeline import Triager

    settings = get_settings()
    model = load_triager(settings.model_dir, Embedder(settings.embedding_model_path, **settings.embedder_options)).model
    splits = by_split([*load_crisis(retired=False), *from_corpus(load_corpus(settings.shared_dir))])
    sets = {name: load_blind_crisis(name) for name in retired_sets.RETIRED_CRISIS_SETS}

    def held_out(extra: list[Any], names: list[str]) -> dict[str, Any]:
        with threadpool_limits(limits=1):
            fit = fit_danger(model.features, [*splits["train"], *extra], splits["val"])
        m = copy.copy(model)
        m.danger_clf, m.kind_clf, m.danger_memory = fit.danger_clf, fit.kind_clf, fit.memory
        m.danger_threshold, m.danger_threshold_cue = fit.threshold, fit.threshold_cue
        m.check_threshold, m.check_threshold_cue = fit.check_threshold, fit.check_threshold_cue
        triager = Triager(m)
        return {n: {k: eval_triage.danger_report(triager, sets[n])[k] for k in FIGURES} for n in names}

    alone = held_out([], list(sets))
    print(json.dumps({"corpus_alone": alone}), flush=True)
    for name in sets:
        others = [e for n, rows in sets.items() if n != name for e in rows]
        print(json.dumps({"held_out": name, "corpus_alone": alone[name],
                          "with_other_sets": held_out(others, [name])[name]}), flush=True)


def ranking() -> None:
    from api.cli import common, train
    from api.settings import Settings, get_settings

    held = retired_sets.RETIRED_ANSWER_SETS[-1]
    older = retired_sets.RETIRED_ANSWER_SETS[:-1]
    leaked = _near_copies_of(held, older)
    settings = get_settings()
    for label, trained_on in (("without_retired", ()), ("with_older_sets", older)):
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / "models"
            shutil.copytree(settings.model_dir, model_dir, ignore=shutil.ignore_patterns("search"), symlinks=True)
            # The CLI's commands read their settings here: the same ones with this copy as the model directory.
            local = Settings(**{**settings.model_dump(), "model_dir": model_dir})
            train.get_settings = common.get_settings = lambda local=local: local  # type: ignore[misc]
            retired_sets.RETIRED_ANSWER_SETS = trained_on
            print(json.dumps({"trained_on": trained_on, "held_out": held, "left_out_near_copies": len(leaked),
                              label: _fit_and_evaluate(held, leaked)}), flush=True)


def _near_copies_of(held: str, older: tuple[str, ...]) -> set[str]:
    from kb.query import prepare_query

    old = {prepare_query(r["text"]).text for n in older for r in retired_sets.answer_set_rows(n)}
    rows = {prepare_query(r["text"]).text: r["id"] for r in retired_sets.answer_set_rows(held)}
    return {rows[text] for text, _ in retired_sets.near_copies(rows, old)}


def _fit_and_evaluate(held: str, leaked: set[str]) -> dict[str, Any]:
    from api.cli.common import _bar, _runtime
    from api.cli.train import train_search_cmd, train_triage_cmd
    from models.answer_eval import evaluate

    train_triage_cmd(if_missing=False)  # the triage corpus reads the retired answer sets too
    train_search_cmd(if_missing=False)
    rt = _runtime()
    rt.index.load_or_build(_bar())
    report = evaluate(rt.assistant, rows=[r for r in retired_sets.answer_set_rows(held) if r["id"] not in leaked])
    w, o = report["workers"], report["operators"]
    return {"workers_acceptable": w["acceptable_confident_or_first_likely"], "workers_answerable": w["answerable"],
            "wrong_confident_of_confident": w["confident_not_acceptable_of_confident"],
            "operators_first": o["acceptable_first"], "operators_top3": o["acceptable_top3"],
            "operators_answerable": o["answerable"], "banner": o["banner_answerable"],
            "noise_confident": report["noise"]["confident"]}


if __name__ == "__main__":
    {"danger": danger, "ranking": ranking}[sys.argv[1] if len(sys.argv) > 1 else "danger"]()
