"""Shared fixtures. Tests import the packages exactly as a client would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def local_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted e5 model: the one `make models` built, else a fresh build in a temp dir."""
    from models.e5 import build_e5_model, manifest_matches

    built = REPO / "models" / "artifacts" / "multilingual-e5-small"
    if manifest_matches(built, None):
        return built
    return build_e5_model(tmp_path_factory.mktemp("e5") / "multilingual-e5-small", progress=False)


# A PostgreSQL server for the backend-parametrised tests (the machine and CI run one on loopback).
PG_ADMIN_URL = os.environ.get("JISHIBANG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for one test; skipped (with the reason) when no server answers."""
    yield from _throwaway_pg()


def _throwaway_pg() -> Iterator[str]:
    import time
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    # A busy machine answers slowly, and two test runs at once collide on CREATE DATABASE ("template1 is being
    # accessed by other users"): retry those. Skip only when no server answers at all, with the reason.
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    name = f"jishibang_t_{uuid.uuid4().hex[:10]}"
    for attempt in range(6):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            break
        except OperationalError as exc:
            message = str(exc).splitlines()[0]
            in_use = "being accessed by other users" in message
            if attempt == 5 or (not in_use and attempt >= 2):
                admin.dispose()
                pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} unavailable after {attempt + 1} tries: {message}")
            time.sleep(0.5 * (attempt + 1))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def copy_cached_vectors(index_dir: Path) -> None:
    """Reuse the entry vectors `make models` computed: tests rebuild indexes without re-encoding texts."""
    import shutil

    cached = REPO / "data" / "index" / "entries" / "vectors.npz"
    if cached.exists():
        index_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(cached, index_dir / "vectors.npz")


# Every server log and data dir a test creates; scanned for personal data when the session ends.
ARTIFACTS: list[Path] = []


def record_artifacts(*paths: Path) -> None:
    """Log files and data dirs for the end-of-session personal-data scan (see pytest_sessionfinish)."""
    ARTIFACTS.extend(paths)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No phone, ID, card or plate number in any server log line or stored text: scan them all, fail the run on a hit."""
    if not ARTIFACTS:
        return
    from tests.pii_audit import scan_paths

    started = time.monotonic()
    report = scan_paths(ARTIFACTS)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{report.summary()} in {time.monotonic() - started:.1f} s", *map(str, report.findings[:50])]
    if report.findings:
        lines.append("FAILED: personal data in a server log or database (above); the run fails")
    for line in lines:
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line)
    if report.findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed console command, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(BIN / "jishibang"), *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


class LiveServer:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.proc = proc
        self.log_path = log_path


def serve_process(env: dict[str, str], log_path: Path, workers: int = 1, ready: tuple[int, ...] = (200,),
                  name: str = "server", timeout: float = 180) -> tuple[str, subprocess.Popen[bytes]]:
    """Start `jishibang serve` on a free port (output to ``log_path``) and wait until ``/readyz`` answers with one
    of ``ready``; returns (url, process). The process is killed if it does not get there."""
    port = free_port()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([str(BIN / "jishibang"), "serve", "--port", str(port), "--workers", str(workers)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code in ready:
                return url, proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{name} did not become ready:\n{log_path.read_text()}")


def sign_in(server: ApiServer, users: dict[str, str]) -> ApiServer:
    """A token per role: ``users`` maps a role to a user name (all with PASSWORD)."""
    for role, name in users.items():
        r = httpx.post(f"{server.url}/v1/auth/login", json={"name": name, "password": PASSWORD}, timeout=30)
        assert r.status_code == 200, r.text
        server.tokens[role] = r.json()["token"]
    return server


@pytest.fixture
def live_server(tmp_path: Path, local_model_dir: Path) -> Iterator[LiveServer]:
    """`jishibang serve` in a subprocess on a free port, with its own data dir."""
    data = tmp_path / "data"
    copy_cached_vectors(data / "index" / "entries")
    env = {
        **os.environ,
        "JISHIBANG_DATA_DIR": str(data),
        "JISHIBANG_MODEL_DIR": str(local_model_dir.parent),
    }
    log_path = tmp_path / "server.log"
    record_artifacts(log_path, data)
    url, proc = serve_process(env, log_path, ready=(200, 503), timeout=120)
    try:
        yield LiveServer(url, proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- the API over real HTTP, with one user per role -------------------------------------------------

PASSWORD = "correct-horse-battery"
ROLES = {"admin": ("t-admin", None), "staff": ("t-staff", None), "operator": ("t-operator", None),
         "enterprise": ("t-meituan", "美团"), "enterprise_b": ("t-didi", "滴滴")}


class ApiServer(LiveServer):
    """A running server plus a signed-in token per role (``tokens['staff']`` ...)."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], log_path: Path, data_dir: Path) -> None:
        super().__init__(url, proc, log_path)
        self.data_dir = data_dir
        self.tokens: dict[str, str] = {}

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def client(self, role: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(role), timeout=60)


def start_server(tmp: Path, model_dir: Path, extra_env: dict[str, str] | None = None, workers: int = 1) -> ApiServer:
    data = tmp / "data"
    copy_cached_vectors(data / "index" / "entries")
    env = {**os.environ, "JISHIBANG_DATA_DIR": str(data), "JISHIBANG_MODEL_DIR": str(model_dir.parent),
           **(extra_env or {})}
    for role, (name, platform) in ROLES.items():
        args = ["users", "add", name, "--role", role.removesuffix("_b"), "--password", PASSWORD]
        if platform:
            args += ["--platform", platform]
        done = run_cli(*args, env=env)
        assert done.returncode == 0, done.stderr
    log_path = tmp / "server.log"
    record_artifacts(log_path, data)
    url, proc = serve_process(env, log_path, workers)
    return sign_in(ApiServer(url, proc, log_path, data), {role: name for role, (name, _p) in ROLES.items()})


def stop_server(server: LiveServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@contextmanager
def running_server(tmp: Path, model_dir: Path, extra_env: dict[str, str] | None = None,
                   workers: int = 1) -> Iterator[ApiServer]:
    """:func:`start_server`, stopped when the block ends (the log is complete once the process has exited)."""
    server = start_server(tmp, model_dir, extra_env, workers)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def pg_api_server(tmp_path_factory: pytest.TempPathFactory, local_model_dir: Path) -> Iterator[ApiServer]:
    """The same server on a throwaway PostgreSQL database (skipped with the reason when none answers)."""
    for url in _throwaway_pg():
        with running_server(tmp_path_factory.mktemp("api-pg"), local_model_dir,
                            {"JISHIBANG_DATABASE_URL": url, "JISHIBANG_FAQ_RATE_PER_MINUTE": "1000"}) as server:
            yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> ApiServer:
    """API tests that write records run on both backends."""
    return request.getfixturevalue("api_server" if request.param == "sqlite" else "pg_api_server")


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory, local_model_dir: Path) -> Iterator[ApiServer]:
    """One real server for the API and browser tests (a temporary SQLite file, the real models)."""
    # A generous FAQ limit: the browser and API tests share one client address (the 429 test has its own server).
    with running_server(tmp_path_factory.mktemp("api"), local_model_dir,
                        {"JISHIBANG_FAQ_RATE_PER_MINUTE": "1000"}) as server:
        yield server


@pytest.fixture(scope="session")
def bm25_ranking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ranking model fitted once per session on a BM25-only index of the seed entries, without a triage model
    (its triage features are zero in fitting and in search alike). Any BM25 index of the seed entries accepts it
    (same dictionary, no vectors, same features)."""
    if not SHARED.is_dir():  # its negatives (chinese_sts, teddycup2020) come from ../shared
        pytest.skip(f"{SHARED} is missing: the ranking model's fit needs the shared data beside the repository")
    from kb.seeding import seed_text
    from kb.service import IndexManager
    from kb.transfer import import_entries
    from models.answer_training import collect, fit, labelled_queries
    from tests.test_kb_store import TODAY, make_store

    root = tmp_path_factory.mktemp("bm25-ranking")
    store = make_store(root / "kb.db")
    import_entries(store, seed_text(), "jsonl", "seed", default_status="published")
    m = IndexManager(store, root / "index", None, None, today=lambda: TODAY)
    m.rebuild()
    queries = labelled_queries(m.searcher, SHARED, paraphrases=False)
    fit(m.searcher, collect(m.searcher, queries, None, progress=False), m.ranking_record(), folds=3).save(
        root / "ranking.json")
    return root / "ranking.json"
