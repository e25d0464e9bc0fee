"""`jishibang bench triage`, briefly: the served model on the served encoder, the same model on the fp32
encoder and the TF-IDF side model, timed interleaved; the figures are a benchmark's, not asserted."""

from __future__ import annotations

import json

import pytest

from models.bench_triage import _time_interleaved
from tests.conftest import REPO, run_cli

pytestmark = [pytest.mark.model, pytest.mark.integration]


def test_interleaving_gives_every_pipeline_every_message_in_a_rotating_order() -> None:
    calls: list[tuple[str, str]] = []
    runs = {name: (lambda t, name=name: calls.append((name, t))) for name in ("a", "b", "c")}
    ms = _time_interleaved(runs, ["m1", "m2", "m3"])
    assert {k: len(v) for k, v in ms.items()} == {"a": 3, "b": 3, "c": 3}
    timed = calls[-9:]  # after the warm-up
    assert [name for name, _ in timed[0::3]] == ["a", "b", "c"]  # each message starts with another pipeline
    assert sorted(timed[3:6]) == [("a", "m2"), ("b", "m2"), ("c", "m2")]


@pytest.mark.stress  # a benchmark's smoke test (~15 s), run by `make stress` like the load benchmark's
def test_bench_triage_reports_the_served_and_the_fp32_encoder(local_model_dir) -> None:
    built = REPO / "models" / "artifacts"
    if not (built / "triage" / "CURRENT").exists():
        pytest.skip("no trained triage model: run `make models`")
    env = {"JISHIBANG_MODEL_DIR": str(built)}
    done = run_cli("bench", "triage", "--messages", "50", env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    print(json.dumps(report, ensure_ascii=False))
    served, fp32, tfidf = (report["with_embedding"], report["with_embedding_fp32_encoder"],
                           report["without_embedding"])
    assert served["encoder"] == "onnx/int8-mixed" and fp32["encoder"] == "onnx/fp32"
    assert served["version"] == fp32["version"] and tfidf["variant"] == "tfidf"
    for row in (served, fp32, tfidf):
        assert row["messages"] == 50 and 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert set(report["served_over_fp32"]) == {"p50_ms", "p95_ms", "mean_ms"}


@pytest.mark.stress  # a benchmark's smoke test, like the one above
def test_bench_profile_writes_a_flame_chart_per_path(local_model_dir, tmp_path) -> None:
    built = REPO / "models" / "artifacts"
    if not (built / "triage" / "CURRENT").exists():
        pytest.skip("no trained triage model: run `make models`")
    env = {"JISHIBANG_MODEL_DIR": str(built), "JISHIBANG_DATA_DIR": str(tmp_path / "data")}
    done = run_cli("bench", "profile", "--calls", "10", env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    for path in ("suggest", "faq", "live"):
        row = report[path]
        assert row["p50_ms"] > 0 and (tmp_path / "data" / "reports" / f"profile-{path}.html").exists()
        assert set(row["share_of_time"]) == {"encoder", "search", "triage", "database", "other"}
        assert abs(sum(row["share_of_time"].values()) - 1.0) < 0.01
