"""Several machines, one hotline: index builds recorded in the database and followed by every process, the
job worker, and the deployment files.

The first tests run in the default suite on SQLite (the build tables exist there too; no NOTIFY): two
IndexManagers with separate index dirs stand for two machines. The PostgreSQL tests skip with the reason when
no server answers; the ones that start servers and workers are ``stress`` (tests/test_scale_out_servers.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from kb import index as idx
from kb.db import make_engine, session_factory
from kb.builds import BuildMismatch, BuildRegistry, IndexBuildFile, build_name
from kb.seeding import seed_text
from kb.service import IndexManager
from kb.store import EntryStore
from kb.transfer import import_entries
from tests.test_kb_store import TODAY, content, make_store

REPO = Path(__file__).resolve().parents[1]


def machine(store: EntryStore, root: Path, **kwargs) -> IndexManager:  # type: ignore[no-untyped-def]
    """One "machine": its own store object on the shared database (so only the machine that makes a change hears
    of it), its own index dir, BM25 only (no model needed), builds recorded in the database."""
    own = own_store(store)
    return IndexManager(own, root, None, None, today=lambda: TODAY, builds=BuildRegistry(own.factory), **kwargs)


def own_store(store: EntryStore) -> EntryStore:
    engine = store.factory.kw["bind"]
    return EntryStore(session_factory(make_engine(engine.url.render_as_string(hide_password=False))), today=lambda: TODAY)


def publish(store: EntryStore | IndexManager, slug: str, title: str) -> int:
    store = store.store if isinstance(store, IndexManager) else store
    e = store.create(content(slug, title=title, question=f"{title}怎么办"), "alice")
    e = store.transition(e.id, e.version, "submit", "alice")
    e = store.transition(e.id, e.version, "approve", "carol")
    return e.id


@pytest.fixture
def kb_store(tmp_path: Path) -> EntryStore:
    store = make_store(tmp_path / "kb.db")
    # 40 seed entries: enough to be a knowledge base, few enough that a BM25 build takes well under a second.
    import_entries(store, "\n".join(seed_text().splitlines()[:40]) + "\n", "jsonl", "seed", default_status="published")
    return store


def test_build_published_on_one_machine_is_served_by_another(kb_store: EntryStore, tmp_path: Path) -> None:
    a, b = machine(kb_store, tmp_path / "a"), machine(kb_store, tmp_path / "b")
    first = a.load_or_build()  # nothing recorded yet: A builds and records
    assert first.build.path is not None and first.build.path.name == build_name(idx.content_key(first.build.manifest))
    assert b.load_or_build().build.path.name == first.build.path.name  # B fetches the very same build
    assert (tmp_path / "b" / idx.CURRENT).read_text().strip() == first.build.path.name

    entry = publish(a, "scale-out-test", "跨机器发布的新条目")  # A's listener rebuilds in the background
    assert a.wait_idle(120)
    assert a.searcher.build.path.name != first.build.path.name
    assert b.searcher.build.path.name == first.build.path.name  # B has not looked yet
    assert b.follow_recorded()
    assert b.searcher.build.path.name == a.searcher.build.path.name
    found = b.search("跨机器发布的新条目怎么办", mode="bm25")
    assert found.index_build == a.searcher.build.path.name
    assert found.hits and found.hits[0].entry_id == entry
    assert not b.follow_recorded()  # nothing newer: no reload


def test_a_late_machine_converges_to_the_newest_build(kb_store: EntryStore, tmp_path: Path) -> None:
    a = machine(kb_store, tmp_path / "a")
    a.load_or_build()
    for i in range(3):
        publish(a, f"late-{i}", f"晚到机器测试条目{i}")
        assert a.wait_idle(120)
    late = machine(kb_store, tmp_path / "late")
    assert late.load_or_build().build.path.name == a.searcher.build.path.name
    reg = BuildRegistry(kb_store.factory)
    assert not reg.due(*late.identity())
    assert reg.newest(*late.identity()).covers == reg.watermark()


def test_same_entries_make_one_build_under_one_name(kb_store: EntryStore, tmp_path: Path) -> None:
    a, b = machine(kb_store, tmp_path / "a"), machine(kb_store, tmp_path / "b")
    one, two = a.rebuild(), b.rebuild()  # two builders, one snapshot
    assert one.build.path.name == two.build.path.name
    assert len(BuildRegistry(kb_store.factory).history()) == 1


def test_a_corrupt_stored_build_is_never_served(kb_store: EntryStore, tmp_path: Path) -> None:
    a, b = machine(kb_store, tmp_path / "a"), machine(kb_store, tmp_path / "b")
    old = a.load_or_build().build.path.name
    b.load_or_build()
    publish(a, "corrupt-test", "损坏的索引不应被加载")
    assert a.wait_idle(120)
    new = BuildRegistry(kb_store.factory).newest(*a.identity())
    with kb_store.factory() as s, s.begin():
        s.execute(update(IndexBuildFile).where(IndexBuildFile.build_id == new.id, IndexBuildFile.path == "manifest.json")
                  .values(data=b'{"entries": 1}'))
    with pytest.raises(BuildMismatch):
        b.follow_recorded()
    assert b.searcher.build.path.name == old  # still the old, complete build
    assert not (tmp_path / "b" / new.name).exists()  # nothing half-written under the build's name


def test_a_builder_that_dies_mid_build_records_nothing(kb_store: EntryStore, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    a = machine(kb_store, tmp_path / "a")
    served = a.load_or_build().build.path.name
    reg = BuildRegistry(kb_store.factory)
    # A publish recorded by a machine whose builder then dies (the store here has no index listener).
    reg.request("approve", publish(kb_store, "dies-test", "构建中途失败"))
    assert reg.due(*a.identity())
    before = [r.name for r in reg.history()]

    def dies(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt("killed while saving")

    builder = machine(kb_store, tmp_path / "builder")
    monkeypatch.setattr(idx, "save", dies)
    with pytest.raises(KeyboardInterrupt):
        builder.rebuild()
    monkeypatch.undo()
    assert [r.name for r in reg.history()] == before and reg.due(*a.identity())  # nothing recorded
    assert not a.follow_recorded() and a.searcher.build.path.name == served
    builder.rebuild()  # the retry
    assert not reg.due(*a.identity())
    assert a.follow_recorded() and a.searcher.build.path.name == builder.searcher.build.path.name != served


def test_sqlite_mode_keeps_the_current_pointer(kb_store: EntryStore, tmp_path: Path) -> None:
    """Without recorded builds nothing changes: builds are named by time and followed through CURRENT."""
    a = IndexManager(own_store(kb_store), tmp_path / "one", None, None, today=lambda: TODAY)
    b = IndexManager(own_store(kb_store), tmp_path / "one", None, None, today=lambda: TODAY)
    a.rebuild()
    b.load_or_build()
    publish(a, "pointer-test", "同一数据目录的工作进程")
    assert a.wait_idle(120)
    assert b.follow(force=True) and b.searcher.build.path.name == a.searcher.build.path.name
    assert BuildRegistry(kb_store.factory).history() == []


# --- the deployment, checked statically (no Docker engine runs here) -------------------------------------

def test_compose_file_runs_every_process_with_its_settings() -> None:
    from api.settings import Settings

    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "worker", "postgres", "redis", "proxy"} <= set(services)
    api, worker = services["api"], services["worker"]
    assert api["deploy"]["replicas"] >= 2
    assert "--forwarded-allow-ips" in " ".join(api["command"])
    assert worker["command"][:2] == ["jishibang", "worker"]
    fields = set(Settings.model_fields)
    for name in ("api", "worker", "migrate"):
        env = {**compose.get("x-jishibang-env", {}), **(services[name].get("environment") or {})}
        unknown = [k for k in env if not k.startswith("JISHIBANG_") or k.removeprefix("JISHIBANG_").lower() not in fields]
        assert not unknown, f"{name}: not settings: {unknown}"
        assert env["JISHIBANG_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["JISHIBANG_REDIS_URL"].startswith("redis://")
    api_env = {**compose["x-jishibang-env"], **(api.get("environment") or {})}
    assert api_env["JISHIBANG_JOBS"] == "queue" and api_env["JISHIBANG_WECHAT_SEND_IN_API"] == "false"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # The proxy hands the client address on, and the API trusts only the proxy's network for it.
    proxy_conf = (REPO / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy" in proxy_conf and "dynamic a api 8000" in proxy_conf and "lb_try_duration" in proxy_conf
    trusted = api["command"][api["command"].index("--forwarded-allow-ips") + 1]
    assert trusted == services["proxy"]["networks"]["front"]["ipv4_address"]
    assert api["healthcheck"]["test"][-1].endswith("/readyz")
    assert "stop_grace_period" in api and "stop_grace_period" in worker
    build = compose["x-jishibang-image"]["build"]
    assert (REPO / "deploy" / build["context"] / build["dockerfile"]).resolve().is_file()


# --- the jobs -------------------------------------------------------------------------------------------

def test_nightly_alerts_keep_one_report_per_day(kb_store: EntryStore) -> None:
    from datetime import date

    from hotline.alerts import record_run
    from hotline.tables import AlertRun

    day = date(2026, 11, 29)
    first = record_run(kb_store.factory, day)
    again = record_run(kb_store.factory, day)  # a retried job: the same day's report, replaced
    assert first == again == {"as_of": "2026-11-29", "alerts": 0, "pairs_checked": 0}
    with kb_store.factory() as s:
        rows = list(s.query(AlertRun))
    assert [r.as_of for r in rows] == [day] and rows[0].report["as_of"] == "2026-11-29"


def test_jobs_are_registered_with_retries_locks_and_schedules() -> None:
    from api.jobs import LOCKS, NAMES, build_app
    from api.settings import Settings

    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", alerts_cron="0 2 * * *",
                        retention_cron="30 3 * * *", retrain_cron="0 4 * * 0")
    app = build_app(settings)  # nothing connects until the worker opens the app
    tasks = app.tasks
    assert {NAMES["reindex"], NAMES["retrain"], NAMES["alerts"], NAMES["purge"], NAMES["watch"]} <= set(tasks)
    reindex = tasks[NAMES["reindex"]]
    assert reindex.lock == reindex.queueing_lock == LOCKS["reindex"]
    assert reindex.retry_strategy is not None and reindex.retry_strategy.max_attempts == 8
    # Exponential back-off: wait + 2 ** (attempts + 1) seconds, i.e. 3, 5, 9, 17 ...
    assert (reindex.retry_strategy.wait, reindex.retry_strategy.exponential_wait) == (1, 2)
    crons = {p.task.name: p.cron for p in app.periodic_registry.periodic_tasks.values()}
    assert crons["jishibang.early_warning_nightly"] == "0 2 * * *"
    assert crons["jishibang.retention_nightly"] == "30 3 * * *"
    assert crons["jishibang.retrain_scheduled"] == "0 4 * * 0"
    assert crons[NAMES["watch"]] == "* * * * * */5"


def test_retraining_job_runs_the_promotion_gate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import models.promotion as promotion
    from api.jobs import retrain_with_gate
    from api.settings import Settings

    seen: dict[str, object] = {}

    def fake(model_dir, model_path, shared_dir, reports, corrections, policy, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(policy=policy, corrections=corrections, danger=kwargs.get("danger_corrections"))
        return {"verdict": "rejected", "promoted": False}

    monkeypatch.setattr(promotion, "retrain_with_feedback", fake)
    monkeypatch.setattr(promotion, "summary", lambda report: {"promoted": report["promoted"]})
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    make_store(tmp_path / "kb.db")
    out = retrain_with_gate(Settings(database_url=url, data_dir=tmp_path, promotion_max_f1_drop=0.05))
    assert out == {"promoted": False}
    assert seen["policy"].max_f1_drop == 0.05 and seen["corrections"] == [] and seen["danger"] == []


@pytest.mark.integration
def test_worker_runs_queued_jobs_on_postgresql(pg_url: str, tmp_path: Path, local_model_dir: Path) -> None:
    """`jishibang worker` on a real PostgreSQL: it builds and records the (empty) index it finds due, runs a
    queued job, and stops cleanly on SIGTERM."""
    import os
    import subprocess

    from sqlalchemy import create_engine, text

    from tests.conftest import BIN, record_artifacts, run_cli

    env = {**os.environ, "JISHIBANG_DATABASE_URL": pg_url, "JISHIBANG_DATA_DIR": str(tmp_path / "worker"),
           "JISHIBANG_MODEL_DIR": str(local_model_dir.parent), "JISHIBANG_JOBS": "queue"}
    log = tmp_path / "worker.log"
    record_artifacts(log)
    make_store(pg_url)  # migrated before the worker starts, so the test can look at the tables at once
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "jishibang"), "worker"], stdout=out, stderr=subprocess.STDOUT, env=env)
    engine = create_engine(pg_url)
    try:
        def scalar(sql: str) -> object:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()

        deadline = time.monotonic() + 120
        while not scalar("SELECT count(*) FROM index_builds") and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        assert scalar("SELECT count(*) FROM index_builds") == 1, log.read_text()
        done = run_cli("worker", "enqueue", "alerts", "--as-of", "2026-11-29", env=env)
        assert done.returncode == 0, done.stderr
        # The queued run, by its date: between 02:00 and 02:01 the nightly periodic run records today's as well.
        queued = "SELECT count(*) FROM alert_runs WHERE as_of = '2026-11-29'"
        while not scalar(queued) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scalar(queued) == 1, log.read_text()
        builds = run_cli("worker", "builds", env=env)
        assert builds.returncode == 0 and '"entries": 0' in builds.stdout, builds.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        engine.dispose()
    assert proc.returncode == 0, log.read_text()[-2000:]


def test_a_machine_cut_off_from_the_database_converges_when_it_reconnects(pg_url: str, tmp_path: Path) -> None:
    """B listens for builds; its connection is killed (as a network cut or a database restart would), A publishes
    twice meanwhile, and B serves A's newest build once its listener is back, without anyone telling it."""
    from sqlalchemy import create_engine, text

    store = make_store(pg_url)
    import_entries(store, "\n".join(seed_text().splitlines()[:40]) + "\n", "jsonl", "seed", default_status="published")
    a, b = machine(store, tmp_path / "a"), machine(store, tmp_path / "b")
    a.load_or_build()
    b.load_or_build()
    b.start_following(pg_url, poll_seconds=60)  # polling far away: only the reconnect can catch B up
    try:
        assert b._listener is not None and b._listener.connected.wait(10)
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            killed = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND query LIKE 'LISTEN%'")).all()
        admin.dispose()
        assert killed, "no listening connection found"
        for i in range(2):
            publish(a, f"cut-off-{i}", f"断线期间发布的条目{i}")
            assert a.wait_idle(120)
        assert wait_for(lambda: b.searcher.build.path.name == a.searcher.build.path.name, 30), \
            "B did not catch up after reconnecting"
        # Offline for a while (no listener at all, so no notification can reach it), then back.
        b.stop_following()
        publish(a, "cut-off-late", "离线期间发布的条目")
        assert a.wait_idle(120) and b.searcher.build.path.name != a.searcher.build.path.name
        b.start_following(pg_url, poll_seconds=60)
        assert wait_for(lambda: b.searcher.build.path.name == a.searcher.build.path.name, 10), \
            "B did not catch up when it came back"
    finally:
        b.stop_following()


def wait_for(fn, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.05)
    return False
