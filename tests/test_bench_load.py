"""`jishibang bench load` end to end, briefly: it starts `serve --workers 2`, sends an open-loop mix of
/v1/suggest and /v1/faq/ask at a low rate for a few seconds, and reports errors, latency per endpoint, the
achieved rate and the RSS of every server process. (The real 10-minute run is a benchmark, not a test.)"""

from __future__ import annotations

import json

import pytest

from api.bench_load import FAQ, SUGGEST, endpoint_of
from tests.conftest import REPO, run_cli

pytestmark = [pytest.mark.model, pytest.mark.integration]


def test_the_endpoint_mix_follows_the_share_evenly() -> None:
    for share in (0.0, 0.25, 0.5, 0.8, 1.0):
        picks = [endpoint_of(i, share) for i in range(100)]
        assert picks.count(SUGGEST) == round(100 * share)
        assert all(picks[i:i + 20].count(SUGGEST) == round(20 * share) for i in range(0, 100, 20))
    assert endpoint_of(0, 0.5) != endpoint_of(1, 0.5)


@pytest.mark.stress  # starts two API workers: ~1 min, a smoke test of a benchmark
def test_bench_load_runs_briefly_and_reports(local_model_dir) -> None:
    env = {"JISHIBANG_MODEL_DIR": str(local_model_dir.parent), "JISHIBANG_DATA_DIR": str(REPO / "data")}
    done = run_cli("bench", "load", "--minutes", "0.1", "--rate", "2", "--suggest-share", "0.5",
                   "--progress-seconds", "3", env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    print("\n[bench load] " + json.dumps({k: report[k] for k in ("requests", "achieved_rate_rps", "latency_ms",
                                                                 "server_rss")}, ensure_ascii=False))
    assert report["requests"]["scheduled"] == report["requests"]["sent"] == 12
    assert report["requests"]["errors"] == 0, report["errors_by_kind"]
    assert report["requests"]["ok"] == 12
    assert report["latency_ms"][SUGGEST]["n"] == 6 and report["latency_ms"][FAQ]["n"] == 6
    assert 0 < report["latency_ms"][SUGGEST]["p50_ms"] <= report["latency_ms"][SUGGEST]["p99_ms"]
    assert 1.8 < report["achieved_rate_rps"]["sent"] < 2.2  # the schedule held: 2 requests a second
    rss = report["server_rss"]
    assert len(rss["start"]["workers_mb"]) == 2 and all(mb > 100 for mb in rss["start"]["workers_mb"].values())
    assert rss["start"]["total_mb"] >= sum(rss["start"]["workers_mb"].values())
    assert rss["workers_replaced"] == []
    assert report["per_interval"] and "rss" in report["per_interval"][0]
    assert "[bench load]" in done.stderr  # progress went to stderr


@pytest.mark.stress  # starts two API workers: ~1 min, a smoke test of a benchmark
def test_bench_api_runs_briefly_and_reports_cpu_per_request(local_model_dir) -> None:
    env = {"JISHIBANG_MODEL_DIR": str(local_model_dir.parent), "JISHIBANG_DATA_DIR": str(REPO / "data")}
    done = run_cli("bench", "api", "--seconds", "2", "--concurrency", "2", env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    for path in ("/v1/suggest", "/v1/faq/ask"):
        (run,) = report["runs"][path]
        assert run["concurrency"] == 2 and run["ok"] > 0 and run["errors"] == 0, run
        assert 0 < run["p50_ms"] <= run["p95_ms"]
        # The server's CPU is measured across its processes and is most of a request's cost; the client's is some.
        assert run["server_cpu_ms_per_request"] > 0 and run["client_cpu_ms_per_request"] > 0
    assert report["encoder_alone"]["p50_ms"] > 0 and report["suggest_p50_over_encoder_p50"] is None  # no c1 run
    assert len(report["worker_rss_mb_end"]) >= 2
