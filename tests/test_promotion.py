"""Corrections become training data; the promotion gate; model versions, listing and rollback.

The gate tests train real models with the real gate on a temp model dir. To stay fast they train one
configuration (the served one: combined features, C=2) and reuse the corpus embeddings `make models`
cached. The baseline is trained without 205 of the corpus's own training messages: nearly all of two
types (105 of 118 union_service, 100 of 113 access_environment, emergencies never held out); those
messages then come back as operator corrections recorded in a real SQLite database:

- with their true labels ("real corrections"): the candidate must be promoted and served;
- then re-corrected with deliberately wrong labels ("poisoned"; a later correction of a text replaces
  the earlier one): the candidate must be rejected, kept aside, not served.

Training is deterministic, so the verdicts are too; measured on this corpus (test macro-F1): baseline
0.819, with real corrections 0.855 (promoted; largest per-type drop 0.017), poisoned 0.774 (rejected).
The scenario is built to be clearly better or clearly worse on purpose: retraining this model on nearly
the same data moves a small type's test F1 by up to ~0.08 (measured), which is why the gate judges by
paired tests on the same test messages rather than by a fixed margin (docs/learning.md).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from models.promotion import GatePolicy, Paired, _f1_columns as _f1, judge, paired_tests
from models.triage_data import by_split
from tests.conftest import REPO, SHARED, run_cli


def summary(macro: float, per_type: dict[str, float], emergency: float | None = 1.0) -> dict[str, Any]:
    return {"macro_f1": macro, "top1_accuracy": 0.9, "emergency_recall": emergency, "calibration_error": 0.01,
            "per_type_f1": per_type}


def paired(changes: dict[str, tuple[int, int]], n: int = 400, positives: int = 30) -> Paired:
    """Test messages for a few types: each type has ``positives`` gold messages; ``changes[type]`` =
    (messages the candidate gets wrong that the current model got right, the reverse)."""
    labels = list(changes)
    truth: list[list[str]] = [[] for _ in range(n)]
    current: list[list[str]] = [[] for _ in range(n)]
    candidate: list[list[str]] = [[] for _ in range(n)]
    for j, lab in enumerate(labels):
        rows = range(j * positives, (j + 1) * positives)
        worse, better = changes[lab]
        for k, i in enumerate(rows):
            truth[i].append(lab)
            right_now = k >= better  # the first `better` positives the current model misses
            right_then = not (better <= k < better + worse)  # the next `worse` ones the candidate misses
            if right_now:
                current[i].append(lab)
            if right_then:
                candidate[i].append(lab)
    return Paired.from_label_sets(labels, truth, current, candidate)


def verdict_for(changes: dict[str, tuple[int, int]], emergency: float = 1.0,
                policy: GatePolicy = GatePolicy()) -> dict[str, Any]:
    p = paired(changes)
    cur = _f1(p.truth, p.current)
    cand = _f1(p.truth, p.candidate)
    current = summary(round(float(cur.mean()), 4), dict(zip(p.labels, cur.round(3).tolist())))
    candidate = summary(round(float(cand.mean()), 4), dict(zip(p.labels, cand.round(3).tolist())), emergency)
    return judge(candidate, current, policy, paired_tests(p, policy))


# --- the gate's rule, on given figures -------------------------------------------------------------

def test_gate_promotes_a_candidate_that_is_no_worse() -> None:
    verdict = verdict_for({"injury": (2, 1), "pay_settlement": (0, 2)})
    assert verdict["verdict"] == "promoted", verdict["reasons"]
    assert verdict["per_type_f1"]["injury"]["candidate_worse"] == 2
    assert verdict["per_type_f1"]["injury"]["candidate_better"] == 1
    assert any("no issue type significantly worse" in r for r in verdict["reasons"])


def test_gate_promotes_a_noisy_drop_that_a_fixed_margin_refused() -> None:
    # 4 of 30 injury messages worse, 1 better: F1 drops by ~0.05 (over the old 0.03 margin) but a coin
    # could do that: the retraining noise measured on this corpus is of this size.
    verdict = verdict_for({"injury": (4, 1), "pay_settlement": (1, 1), "work_hours": (0, 0)})
    injury = verdict["per_type_f1"]["injury"]
    assert injury["change"] < -0.03 and not injury["significant"]
    assert verdict["verdict"] == "promoted", verdict["reasons"]


def test_gate_rejects_a_type_that_is_significantly_and_substantially_worse() -> None:
    verdict = verdict_for({"injury": (12, 0), "pay_settlement": (0, 3), "work_hours": (0, 0)})
    assert verdict["verdict"] == "rejected"
    assert any(r.startswith("injury: F1 1.000 -> 0.750 (drop 0.250 > 0.03; 12 messages worse, 0 better")
               for r in verdict["reasons"]), verdict["reasons"]
    # Significant but smaller than the minimum effect worth refusing: the per-type rule lets it pass.
    lenient = verdict_for({"injury": (12, 0), "pay_settlement": (0, 3), "work_hours": (0, 0)},
                          policy=GatePolicy(max_f1_drop=0.3))
    assert lenient["per_type_f1"]["injury"]["significant"]
    assert [c["passed"] for c in lenient["checks"] if c["rule"] == "per_type_f1"] == [True]


def test_gate_rejects_a_significantly_lower_macro_f1() -> None:
    changes = {t: (9, 0) for t in ("injury", "pay_settlement", "work_hours", "deposit_refund")}
    verdict = verdict_for(changes, policy=GatePolicy(max_f1_drop=1.0))  # only the macro rule can refuse it
    assert verdict["verdict"] == "rejected"
    assert verdict["reasons"][0].startswith("macro-F1") and "upper 95% bound" in verdict["reasons"][0]


def test_gate_rejects_a_missed_emergency_even_when_better_otherwise() -> None:
    verdict = verdict_for({"injury": (0, 5)}, emergency=0.96)
    assert verdict["verdict"] == "rejected"
    assert verdict["reasons"] == ["emergencies flagged or checked 0.96 (needs >= 1.0; flagged 0.96)"]


def test_gate_counts_an_emergency_in_the_safety_check_band_as_reached() -> None:
    # The emergency flag is set for 98% of training emergencies; the rest must reach the safety check.
    candidate = {**summary(0.9, {"injury": 0.9}, emergency=0.96), "emergency_reached": 1.0}
    assert judge(candidate, None)["verdict"] == "promoted"
    assert judge({**candidate, "emergency_reached": 0.96}, None)["verdict"] == "rejected"


def _crisis(candidate: list[str], current: list[str]) -> dict[str, Any]:
    base = summary(0.9, {"injury": 0.9})
    p = paired({"injury": (0, 0)})
    return judge({**base, "crisis_test_outcomes": candidate}, {**base, "crisis_test_outcomes": current},
                 tests=paired_tests(p))


def test_gate_lets_one_crisis_emergency_move_from_flag_to_check() -> None:
    current = ["flag"] * 133 + ["check"]
    verdict = _crisis(["check"] + ["flag"] * 132 + ["check"], current)  # one held-out emergency: flag -> check
    assert verdict["verdict"] == "promoted", verdict["reasons"]
    recall = next(c for c in verdict["checks"] if c["rule"] == "crisis_recall")
    assert "132/134 (current 133/134; 1 no longer flagged, 0 newly flagged" in recall["detail"]


def test_gate_rejects_a_crisis_emergency_no_longer_reached_or_many_unflagged() -> None:
    current = ["flag"] * 133 + ["check"]
    missed = _crisis(["missed"] + ["flag"] * 132 + ["check"], current)
    assert missed["verdict"] == "rejected"
    assert any(r.startswith("held-out crisis emergencies reached (flag or check) 133/134") for r in missed["reasons"])
    unflagged = _crisis(["check"] * 8 + ["flag"] * 125 + ["check"], current)  # 8 worse, 0 better: p = 0.004
    assert unflagged["verdict"] == "rejected"
    assert any(r.startswith("danger-now recall on the held-out crisis split 125/134") for r in unflagged["reasons"])


def test_gate_with_nothing_served_promotes_unless_an_emergency_is_missed() -> None:
    assert judge(summary(0.5, {"injury": 0.5}), None)["verdict"] == "promoted"
    assert judge(summary(0.9, {"injury": 0.9}, emergency=0.9), None)["verdict"] == "rejected"


def test_gate_needs_paired_tests_against_a_current_model() -> None:
    with pytest.raises(ValueError, match="paired tests"):
        judge(summary(0.9, {"injury": 0.9}), summary(0.8, {"injury": 0.8}))


def test_paired_tests_are_deterministic() -> None:
    p = paired({"injury": (5, 2), "pay_settlement": (1, 4)})
    assert paired_tests(p) == paired_tests(p)


# --- corrections as training data --------------------------------------------------------------------

@pytest.fixture
def factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    from kb.db import make_engine, migrate, session_factory

    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    migrate(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def test_corrections_are_masked_take_the_case_text_and_never_copy_an_evaluation_message(factory) -> None:
    from hotline.cases import CaseStore
    from hotline.feedback import FeedbackLog
    from models.feedback_data import load_corrections, select_for_training
    from models.triage_data import by_split, load_corpus

    corpus = load_corpus(SHARED)
    test_text = by_split(corpus)["test"][0].text
    cases, log = CaseStore(factory), FeedbackLog(factory)
    case = cases.create(channel="phone", operator="op", text="车行扣我押金两千不退，我手机13912345678",
                        issue_types=["platform_rules"], urgency="normal")
    log.record(source="operator", actor="op", event="corrected", case_id=case["id"],
               corrected_issue_types=["deposit_refund"])  # names only the case
    log.record(source="operator", actor="op", event="corrected", query="站长话我唔系员工，工伤唔关佢事",
               corrected_issue_types=["platform_rules"])
    log.record(source="operator", actor="op", event="corrected", query="站长话我唔系员工，工伤唔关佢事",
               corrected_issue_types=["labor_relation", "injury"])  # a later correction of the same text wins
    log.record(source="operator", actor="op", event="corrected", query=test_text,
               corrected_issue_types=["out_of_scope"])  # a test-split message: never trained on
    corrections = load_corrections(factory)
    assert len(corrections) == 4
    assert corrections[0].from_case and "[手机号]" in corrections[0].text and "13912345678" not in corrections[0].text
    selection = select_for_training(corrections, corpus)
    assert [(e.text, e.issue_types) for e in selection.examples] == [
        ("车行扣我押金两千不退，我手机[手机号]", ("deposit_refund",)),
        ("站长话我唔系员工，工伤唔关佢事", ("labor_relation", "injury")),
    ]
    assert selection.report["skipped"] == {"superseded_by_a_later_correction": 1, "already_in_corpus": 1}
    assert selection.report["from_case_text"] == 1


def test_corrections_are_spread_among_the_training_rows_not_appended() -> None:
    from models.train_triage import _interleave

    corpus = [(f"语料{i}", ("pay_settlement",), "normal") for i in range(300)]
    extras = [(f"纠正{i}", ("injury",), None) for i in range(30)]
    assert _interleave(corpus, []) == corpus  # a plain training run is unchanged
    rows = _interleave(corpus, extras)
    assert [r for r in rows if r[2] is not None] == corpus  # the corpus keeps its order
    positions = [i for i, r in enumerate(rows) if r[2] is None]
    assert len(positions) == 30 and min(positions) < 110 and max(positions) > 220  # in every third
    assert _interleave(corpus, extras[::-1]) == rows  # the order they were recorded in does not matter


# --- real training, the real gate, versions ----------------------------------------------------------

VARIANTS, CS = ("combined",), (2.0,)
LAB_EMERGENCY_FLOOR = 0.98  # see the lab fixture: one borderline message of 61 (the product's default stays 1.0)


def _rotated(types: tuple[str, ...], labels: list[str]) -> list[str]:
    """A deliberately wrong label: the next type in the taxonomy (out_of_scope wraps to the first)."""
    return [labels[(labels.index(types[0]) + 1) % len(labels)]]


@pytest.fixture(scope="module")
def lab(local_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Baseline, then a candidate with real corrections, then one with poisoned corrections (one DB)."""
    from hotline.cases import CaseStore
    from hotline.feedback import FeedbackLog
    from kb.db import make_engine, migrate, session_factory
    from models.feedback_data import load_corrections
    from models.promotion import retrain_with_feedback
    from models.train_triage import embedding_cache_file
    from models.triage_data import load_corpus
    from triage.embedder import Embedder, embedding_id
    from triage.taxonomy import issue_types

    tmp = tmp_path_factory.mktemp("promotion")
    model_dir = tmp / "models"
    model_dir.mkdir()
    (model_dir / local_model_dir.name).symlink_to(local_model_dir)
    built_onnx = REPO / "models" / "artifacts" / (local_model_dir.name + "-onnx")
    options: dict[str, Any] = {}
    if built_onnx.exists():
        options = {"backend": "onnx", "onnx_dir": built_onnx, "variant": "int8-mixed"}  # as served
    for extra in (built_onnx, REPO / "models" / "artifacts" / "search"):  # what a served model dir also holds
        if extra.exists():
            (model_dir / extra.name).symlink_to(extra)
    cache = embedding_cache_file(REPO / "models" / "artifacts", embedding_id(str(local_model_dir), **options))
    if cache.exists():  # the corpus vectors `make models` computed (else they are encoded once, slowly)
        target = embedding_cache_file(model_dir, embedding_id(str(model_dir / local_model_dir.name), **options))
        target.parent.mkdir()
        shutil.copy(cache, target)

    corpus = load_corpus(SHARED)
    # Held-out messages are never emergencies: urgency is learnt from the corpus alone (corrections carry
    # none), so taking emergencies away would weaken the baseline's emergency recall, not test the gate.
    train = sorted((e for e in by_split(corpus)["train"] if e.urgency != "emergency"), key=lambda e: e.id)
    labels = issue_types()
    # Real corrections: every training message whose main type is one of two types, so the baseline knows them
    # only from messages where they come second (a fixed number stopped being "nearly all" as the corpus grew).
    good = [e for e in train if e.issue_types[0] == "union_service"] + \
           [e for e in train if e.issue_types[0] == "access_environment"]
    held = {e.id for e in good}
    reduced = [e for e in corpus if e.id not in held]

    url = f"sqlite:///{tmp / 'hotline.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    feedback = FeedbackLog(factory)

    # The lab's models train on a reduced corpus with one C, so the test split's most borderline emergency (the
    # team's "封号了 我死的心都有了": P(danger) 0.019 against a check band from 0.016 in the served model of
    # 2026-12-06) lands on either side of the band by chance: 60 or 61 of 61 reached. This fixture tests the gate's
    # flow (real corrections promoted, poison rejected, the served version following); the rule that one missed
    # emergency rejects a model is tested on its own above (test_gate_rejects_a_missed_emergency_*).
    policy = GatePolicy(max_f1_drop=0.03, min_emergency_recall=LAB_EMERGENCY_FLOOR)

    def retrain(label: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        report = retrain_with_feedback(model_dir, str(model_dir / local_model_dir.name), SHARED, tmp / "reports",
                                       load_corrections(factory), policy, variants=VARIANTS,
                                       Cs=CS, embedder_options=options, examples=reduced)
        report["wall_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"\n{label}: {report['version']} {report['verdict']} macro-F1 {report['macro_f1']} "
              f"emergency {report['emergency_recall']} feedback {report['feedback']['used']} "
              f"({report['wall_seconds']} s); reasons: {report['reasons']}")
        return report

    out: dict[str, Any] = {"model_dir": model_dir, "corpus": corpus, "reduced": reduced, "good": good,
                           "embedder": Embedder(str(local_model_dir), **options)}
    out["baseline"] = retrain("baseline")
    # The first correction names only its case (the case's masked text is used), the others the query.
    first = CaseStore(factory).create(channel="phone", operator="op-li", text=good[0].text,
                                      issue_types=["labor_relation"], urgency="normal")
    feedback.record(source="operator", actor="op-li", event="corrected", case_id=first["id"],
                    corrected_issue_types=list(good[0].issue_types))
    for e in good[1:]:
        feedback.record(source="operator", actor="op-li", event="corrected", query=e.text,
                        corrected_issue_types=list(e.issue_types))
    out["improved"] = retrain("real corrections")
    # Poison: every one of those messages re-corrected as the next type in the taxonomy.
    for e in good:
        feedback.record(source="operator", actor="op-x", event="corrected", query=e.text,
                        corrected_issue_types=_rotated(e.issue_types, labels))
    out["poisoned"] = retrain("poisoned corrections")
    engine.dispose()
    return out


def _manifest(model_dir: Path, version: str) -> dict[str, Any]:
    return json.loads((model_dir / "triage" / version / "manifest.json").read_text(encoding="utf-8"))


def _served_version(lab: dict[str, Any]) -> str:
    """What a freshly started service would serve: the version CURRENT names, loaded with every check."""
    from models.registry import load_triager

    triager = load_triager(lab["model_dir"], lab["embedder"])
    return str(triager.analyse("站长扣我押金800元唔退").model_version)


@pytest.mark.model
@pytest.mark.training
def test_first_model_is_served_when_nothing_else_is(lab) -> None:
    base = lab["baseline"]
    assert base["verdict"] == "promoted" and base["served"] == base["version"]
    assert base["current_version"] is None and base["feedback"]["used"] == 0


@pytest.mark.model
@pytest.mark.training
def test_real_corrections_train_a_candidate_that_is_promoted_and_served(lab) -> None:
    base, improved = lab["baseline"], lab["improved"]
    assert improved["current_version"] == base["version"]
    assert improved["feedback"]["used"] == len(lab["good"]) and improved["feedback"]["skipped"] == {}
    assert improved["feedback"]["from_case_text"] == 1
    assert improved["verdict"] == "promoted", improved["reasons"]
    assert improved["macro_f1"]["candidate"] >= improved["macro_f1"]["current"]
    assert improved["emergency_recall"]["candidate"] >= LAB_EMERGENCY_FLOOR
    assert improved["served"] == improved["version"] == _served_version(lab)
    # The corrections went to training only: validation and test are the corpus's, unchanged.
    m = _manifest(lab["model_dir"], improved["version"])
    counts = {s: len(v) for s, v in by_split(lab["reduced"]).items()}
    assert m["data_counts"] == {**counts, "train_feedback": len(lab["good"])}
    assert m["data_hash"] != m["corpus_hash"] == _manifest(lab["model_dir"], base["version"])["corpus_hash"]
    assert m["promotion"]["verdict"] == "promoted"


@pytest.mark.model
@pytest.mark.training
def test_poisoned_corrections_are_rejected_and_not_served(lab) -> None:
    improved, poisoned = lab["improved"], lab["poisoned"]
    assert poisoned["feedback"]["used"] == len(lab["good"])
    assert poisoned["feedback"]["skipped"] == {"superseded_by_a_later_correction": len(lab["good"])}
    assert set(poisoned["feedback"]["label_counts"]) == {"legal_consult", "safety_conflict"}  # all wrong
    assert poisoned["current_version"] == improved["version"]
    assert poisoned["verdict"] == "rejected"
    assert poisoned["reasons"] and all("->" in r or "macro-F1" in r for r in poisoned["reasons"])
    assert poisoned["served"] == improved["version"] == _served_version(lab)
    # Kept aside with its report: both models' per-type F1, the verdict and the reasons.
    m = _manifest(lab["model_dir"], poisoned["version"])
    assert m["promotion"]["verdict"] == "rejected" and m["promotion"]["reasons"] == poisoned["reasons"]
    per_type = m["promotion"]["per_type_f1"]
    assert len(per_type) == 16 and all(v["current"] is not None and v["candidate"] is not None for v in per_type.values())
    assert any(v["change"] < -0.03 for v in per_type.values())


@pytest.mark.model
@pytest.mark.training
def test_models_list_and_rollback_through_the_cli(lab) -> None:
    model_dir = lab["model_dir"]
    env = {"JISHIBANG_MODEL_DIR": str(model_dir)}
    base, improved, poisoned = lab["baseline"]["version"], lab["improved"]["version"], lab["poisoned"]["version"]

    listed = run_cli("models", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["version"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {base, improved, poisoned}
    assert [rows[v]["status"] for v in (base, improved, poisoned)] == ["promoted", "promoted", "rejected"]
    assert [v for v, r in rows.items() if r["served"]] == [improved]
    assert rows[poisoned]["feedback_examples"] == rows[improved]["feedback_examples"] == len(lab["good"])
    assert all(r["data_hash"] and r["created"] and r["metrics"]["macro_f1"] for r in rows.values())

    from models.registry import rollback
    from triage.errors import ArtifactError

    with pytest.raises(ArtifactError, match="different embedding model"):  # what the service would refuse
        rollback(model_dir, base, embedding_id="e5-local:other-vectors")
    refused = run_cli("models", "rollback", poisoned, env=env)
    assert refused.returncode == 1 and "rejected by the promotion gate" in refused.stderr
    unknown = run_cli("models", "rollback", "19990101T000000Z", env=env)
    assert unknown.returncode == 1 and "no triage model version" in unknown.stderr

    done = run_cli("models", "rollback", base, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"served": base, "previous": improved}
    assert _served_version(lab) == base
    rows = {r["version"]: r for r in json.loads(run_cli("models", "list", env=env).stdout)}
    assert [v for v, r in rows.items() if r["served"]] == [base]

    back = run_cli("models", "rollback", improved, env=env)
    assert back.returncode == 0 and _served_version(lab) == improved
    from models.registry import history

    assert [h["event"] for h in history(model_dir)] == ["promoted", "promoted", "rejected", "rollback", "rollback"]


@pytest.mark.model
@pytest.mark.training
def test_a_running_service_follows_current_and_refuses_a_tampered_version(lab) -> None:
    from models.registry import ServedTriager, rollback
    from triage import classifier as artifact
    from triage.errors import ArtifactError

    model_dir = lab["model_dir"]
    base, improved = lab["baseline"]["version"], lab["improved"]["version"]
    rollback(model_dir, improved)
    clock = [0.0]
    served = ServedTriager(model_dir, lab["embedder"], check_seconds=2.0, clock=lambda: clock[0])
    assert served.get().model.manifest["version"] == improved
    rollback(model_dir, base)
    assert served.get().model.manifest["version"] == improved  # not yet looked again
    clock[0] += 2.5
    assert served.get().model.manifest["version"] == base

    # A version whose file no longer matches its manifest is never served, by rollback or by the follower.
    tampered = model_dir / "triage" / improved / "model.joblib"
    original = tampered.read_bytes()
    try:
        tampered.write_bytes(original + b"\0")
        with pytest.raises(ArtifactError, match="does not match its manifest"):
            rollback(model_dir, improved)
        artifact.set_current(model_dir / "triage", improved)  # as if someone edited CURRENT by hand
        clock[0] += 2.5
        assert served.get().model.manifest["version"] == base
    finally:
        tampered.write_bytes(original)
        rollback(model_dir, improved)


@pytest.mark.model
@pytest.mark.training
@pytest.mark.integration
def test_the_http_service_follows_a_rollback_without_a_restart(lab, tmp_path: Path) -> None:
    from tests.conftest import start_server, stop_server

    model_dir = lab["model_dir"]
    base, improved = lab["baseline"]["version"], lab["improved"]["version"]
    env = {"JISHIBANG_MODEL_DIR": str(model_dir)}
    assert run_cli("models", "rollback", improved, env=env).returncode == 0
    server = start_server(tmp_path, model_dir / "multilingual-e5-small")
    try:
        with server.client("operator") as client:
            def served() -> str:
                r = client.post("/v1/triage", json={"text": "小区保安不让电动车进，送餐超时被罚"})
                assert r.status_code == 200, r.text
                return str(r.json()["model_version"])

            assert served() == improved
            assert run_cli("models", "rollback", base, env=env).returncode == 0
            deadline = time.monotonic() + 15
            while served() != base and time.monotonic() < deadline:
                time.sleep(0.5)
            assert served() == base
    finally:
        stop_server(server)
        run_cli("models", "rollback", improved, env=env)
