"""Index swaps under load: while threads keep calling /v1/search, /v1/suggest and /v1/faq/ask, a staff member
edits and publishes an entry ten times; each publish rebuilds the index in the background and swaps it in.
Every response must be a 200 from one complete build: each names its build (`index.build`) and entry count,
the count is the whole knowledge base's, every search hit is in that build at that build's version, a caller
never goes back to an older build once it has seen a newer one, and each published version turns up in
search after its swap."""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.bench_api import load_texts
from tests.conftest import running_server

pytestmark = [pytest.mark.model, pytest.mark.integration]

CYCLES = 10


@dataclass
class Seen:
    """One response: which endpoint, which build, what it returned."""

    endpoint: str
    caller: int
    build: str | None
    entries: int | None
    hits: list[tuple[int, int | None]]  # (entry id, version); version None where the route shows the live one


@dataclass
class Watch:
    index_dir: Path
    manifests: dict[str, dict | None] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def manifest(self, build: str | None) -> dict | None:
        """The manifest of a build, read as soon as a response names it (old builds are pruned later)."""
        if build is None:
            return None
        with self.lock:
            if build not in self.manifests:
                try:
                    self.manifests[build] = json.loads((self.index_dir / build / "manifest.json").read_text())
                except OSError:
                    self.manifests[build] = None
            return self.manifests[build]

    def record(self, endpoint: str, caller: int, r: httpx.Response) -> dict | None:
        if r.status_code != 200:
            with self.lock:
                self.errors[f"{endpoint} {r.status_code}"] += 1
            return None
        body = r.json()
        if endpoint == "search":
            hits = [(h["entry_id"], h["version"]) for h in body["hits"]]
        elif endpoint == "suggest":
            hits = [(s["entry_id"], None) for s in body["suggestions"]]
        else:
            hits = [(body["answer"]["entry_id"], None)] if body["answer"] else []
        index = body.get("index") or {}
        self.manifest(index.get("build"))
        with self.lock:
            self.seen.append(Seen(endpoint, caller, index.get("build"), index.get("entries"), hits))
        return body


def _caller(server, watch: Watch, endpoint: str, caller: int, texts: list[str], stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(caller)
    with server.client(None if endpoint == "faq" else "operator") as c:  # workers ask anonymously
        while not stop.is_set():
            text = rng.choice(texts)
            try:
                if endpoint == "search":
                    r = c.post("/v1/search", json={"query": text, "k": 5})
                elif endpoint == "suggest":
                    r = c.post("/v1/suggest", json={"text": text})
                else:
                    r = c.post("/v1/faq/ask", json={"question": text})
            except httpx.HTTPError as exc:
                with watch.lock:
                    watch.errors[f"{endpoint} {type(exc).__name__}"] += 1
                continue
            watch.record(endpoint, caller, r)


@pytest.fixture(scope="module")
def swap_server(tmp_path_factory: pytest.TempPathFactory, local_model_dir: Path):  # type: ignore[no-untyped-def]
    with running_server(tmp_path_factory.mktemp("swap"), local_model_dir,
                        {"JISHIBANG_FAQ_RATE_PER_MINUTE": "1000000"}) as server:
        yield server


def test_searches_during_ten_reindex_swaps_all_come_from_complete_builds(swap_server) -> None:
    run_swaps(swap_server, "1 worker")


@pytest.mark.stress
def test_two_workers_follow_each_swap_and_serve_only_complete_builds(tmp_path: Path, local_model_dir: Path) -> None:
    """With two API workers only the one that took the publish rebuilds; the other follows the new build
    through the CURRENT pointer. Each still answers from one complete build at a time."""
    with running_server(tmp_path, local_model_dir, {"JISHIBANG_FAQ_RATE_PER_MINUTE": "1000000"}, workers=2) as server:
        run_swaps(server, "2 workers")


def run_swaps(server, label: str) -> None:  # type: ignore[no-untyped-def]
    watch = Watch(server.data_dir / "index" / "entries")
    notes, questions = load_texts(limit=400)
    with server.client("staff") as staff:
        items = staff.get("/v1/entries", params={"status": "published", "kind": "faq", "limit": 1}).json()["items"]
        entry = staff.get(f"/v1/entries/{items[0]['id']}").json()
    eid, base = entry["id"], entry["content"]
    with server.client("operator") as op:
        first = watch.record("search", -1, op.post("/v1/search", json={"query": base["question"]}))
    assert first is not None and first["index"]["build"], first
    n_entries = first["index"]["entries"]
    assert watch.manifest(first["index"]["build"])["entries"] == n_entries

    # Callers ask the entry's own question too, so its hits show which version each build holds.
    own = [base["question"], base["title"], *base["paraphrases"][:3]]
    stop = threading.Event()
    callers = [("search", questions + own * 40), ("search", own), ("suggest", notes), ("faq", questions)]
    threads = [threading.Thread(target=_caller, args=(server, watch, ep, i, texts, stop), daemon=True)
               for i, (ep, texts) in enumerate(callers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    published: list[int] = []
    swap_seconds: list[float] = []
    try:
        with server.client("staff") as staff, server.client("admin") as approver, server.client("operator") as op:
            for k in range(CYCLES):
                got = staff.get(f"/v1/entries/{eid}")
                probe = f"索引切换第{k}轮：{base['question']}"
                content = {**got.json()["content"], "paraphrases": [*base["paraphrases"], probe]}
                r = staff.put(f"/v1/entries/{eid}", json={"content": content}, headers={"If-Match": got.headers["etag"]})
                assert r.status_code == 200, r.text
                r = staff.post(f"/v1/entries/{eid}/submit", json={"version": r.json()["version"]})
                assert r.status_code == 200, r.text
                t_pub = time.perf_counter()
                r = approver.post(f"/v1/entries/{eid}/approve", json={"version": r.json()["version"]})
                assert r.status_code == 200, r.text
                version = r.json()["published_version"]
                published.append(version)
                # The swap: wait until search answers from a build that holds the new version.
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    body = watch.record("search", -1, op.post("/v1/search", json={"query": probe, "k": 5}))
                    if body and (eid, version) in {(h["entry_id"], h["version"]) for h in body["hits"]}:
                        swap_seconds.append(time.perf_counter() - t_pub)
                        break
                    time.sleep(0.05)
                else:
                    pytest.fail(f"cycle {k}: version {version} never showed up in search")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    elapsed = time.perf_counter() - t0

    problems: list[str] = []
    last_version: dict[int, int] = {}  # caller -> the entry's version in the newest build it has seen
    for s in watch.seen:
        m = watch.manifest(s.build)
        if m is None:
            problems.append(f"{s.endpoint}: build {s.build!r} unknown")
            continue
        versions = m["entry_versions"]
        if s.entries != n_entries or m["entries"] != n_entries or len(versions) != n_entries:
            problems.append(f"{s.endpoint}: build {s.build} has {s.entries}/{m['entries']} entries, want {n_entries}")
        for hit_id, hit_version in s.hits:
            if str(hit_id) not in versions or (hit_version is not None and versions[str(hit_id)] != hit_version):
                problems.append(f"{s.endpoint}: hit {hit_id} v{hit_version} is not in build {s.build}")
        mine = versions.get(str(eid), 0)
        if mine < last_version.get(s.caller, 0):
            problems.append(f"caller {s.caller} went back from v{last_version[s.caller]} to v{mine} ({s.build})")
        last_version[s.caller] = max(mine, last_version.get(s.caller, 0))
    by_endpoint = Counter(s.endpoint for s in watch.seen if s.caller >= 0)
    builds = {s.build for s in watch.seen}
    report = {"server": label, "cycles": CYCLES, "elapsed_s": round(elapsed, 1), "responses": dict(by_endpoint),
              "errors": dict(watch.errors), "builds_seen": len(builds), "entries_per_build": n_entries,
              "swap_s": {"median": round(statistics.median(swap_seconds), 2), "max": round(max(swap_seconds), 2)},
              "problems": len(problems)}
    print(f"\n[index swap] {json.dumps(report, ensure_ascii=False)}")
    assert not watch.errors, dict(watch.errors)
    assert not problems, problems[:10]
    assert published == sorted(set(published)) and len(published) == CYCLES
    assert len(builds) >= CYCLES + 1  # the first build and one per publish
    assert all(by_endpoint[ep] > 0 for ep in ("search", "suggest", "faq")), by_endpoint


def test_two_writers_saving_the_same_build_at_once_both_succeed(tmp_path: Path) -> None:
    """API workers that share a data dir rebuild together at start and can save the very same build in the
    same second; both saves must succeed and leave a loadable index (they once shared a temp dir, and one
    deleted the other's files: an error at start, or CURRENT naming a build that was never completed)."""
    from kb import index as idx

    entries = [idx.DocEntry(i, f"e-{i}", "faq", f"标题{i}", ("legal_consult",), "national", "published", 1,
                            (f"第{i}个问题：押金不退怎么办",), f"答案{i}") for i in range(200)]
    build = idx.build(entries, None, None)
    failures: list[str] = []
    for trial in range(20):
        root = tmp_path / f"t{trial}"
        barrier = threading.Barrier(2)

        def save() -> None:
            barrier.wait()
            try:
                idx.save(build, root)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(f"trial {trial}: {type(exc).__name__}: {exc}")

        writers = [threading.Thread(target=save) for _ in range(2)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        loaded = idx.load(root)
        if loaded is None or len(loaded.entries) != len(entries):
            failures.append(f"trial {trial}: the saved index does not load")
        if list(root.glob(".*.tmp")):
            failures.append(f"trial {trial}: temp files left behind: {[p.name for p in root.glob('.*.tmp')]}")
    assert not failures, failures[:5]
