"""Crashes: a real `jishibang serve` on a SQLite file takes sustained writes from several threads (cases,
follow-ups, feedback, entry edits) and is killed with SIGKILL at a random moment, again and again on the
same data dir. After every kill the database must pass `PRAGMA integrity_check` and `foreign_key_check`,
and every write the server acknowledged (a 2xx with its id or version) must be there with its content;
then the server restarts on the same files and the writes go on."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, PASSWORD, copy_cached_vectors, free_port, run_cli
from tests.stress_scale import scaled

pytestmark = [pytest.mark.model, pytest.mark.integration]

WRITERS = 4
NOTE = "我在美团跑外卖，站点收了800元押金，离职一个月了站长还不退"
ENTRY = {"kind": "faq", "title": "崩溃测试条目", "question": "服务器崩溃后修改还在吗", "operator_answer": "接线员答复",
         "worker_answer": "给工人的答复", "issue_types": ["legal_consult"], "referrals": ["union_lawyer"]}


@dataclass
class Ledger:
    """Every write the server acknowledged, with what it said it stored."""

    cases: dict[int, str] = field(default_factory=dict)  # case id -> text_masked
    followups: dict[int, tuple[int, str]] = field(default_factory=dict)  # follow-up id -> (case id, notes)
    feedback: dict[int, tuple[int, str]] = field(default_factory=dict)  # feedback id -> (case id, event)
    edits: dict[tuple[int, int], str] = field(default_factory=dict)  # (entry id, version) -> title
    # Worker questions (the question log commits without waiting for the disk: a process crash must lose none).
    questions: dict[int, str] = field(default_factory=dict)  # answer id -> the marker in its text
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return len(self.cases) + len(self.followups) + len(self.feedback) + len(self.edits) + len(self.questions)


class Service:
    """`jishibang serve` (one process: uvicorn without a supervisor) on a data dir kept across kills."""

    def __init__(self, root: Path, model_dir: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.data = root / "data"
        copy_cached_vectors(self.data / "index" / "entries")
        self.env = {**os.environ, "JISHIBANG_DATA_DIR": str(self.data), "JISHIBANG_MODEL_DIR": str(model_dir.parent),
                    "JISHIBANG_LOG_LEVEL": "WARNING",
                    # this suite counts lost writes, not refusals: a fast server asks more than a worker may
                    "JISHIBANG_FAQ_RATE_PER_MINUTE": "100000"}
        for name, role in (("crash-op", "operator"), ("crash-staff", "staff")):
            done = run_cli("users", "add", name, "--role", role, "--password", PASSWORD, env=self.env)
            assert done.returncode == 0, done.stderr
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts: list[float] = []

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        with open(self.root / "server.log", "ab") as log:
            self.proc = subprocess.Popen([str(BIN / "jishibang"), "serve", "--port", str(port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited early:\n" + (self.root / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    self.starts.append(time.perf_counter() - t0)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("server did not become ready:\n" + (self.root / "server.log").read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _writer(url: str, tokens: dict[str, str], entry_id: int, name: str, cycle: int, ledger: Ledger,
            stop: threading.Event, rng: random.Random) -> None:
    """Write until the server goes away: each 2xx goes into the ledger, anything but a 2xx or a dropped
    connection is a problem."""
    op = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['operator']}"}, timeout=60)
    staff = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['staff']}"}, timeout=60)
    anon = httpx.Client(base_url=url, timeout=60)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            marker = f"{name}c{cycle}n{n}"  # letters between short digit runs: nothing the masker touches
            with ledger.lock:
                known = list(ledger.cases)
            kind = rng.choice(("case", "case", "followup", "feedback", "edit", "question")) if known else "case"
            if kind == "case":
                r = op.post("/v1/cases", json={"text": f"{NOTE}（{marker}）", "channel": "phone"})
                if r.status_code == 201:
                    with ledger.lock:
                        ledger.cases[r.json()["id"]] = r.json()["text_masked"]
            elif kind == "followup":
                case_id = rng.choice(known)
                notes = f"回访 {marker}"
                r = op.post(f"/v1/cases/{case_id}/followups", json={"accepted": True, "notes": notes})
                if r.status_code == 201:
                    mine = [f for f in r.json()["followups"] if f["notes"] == notes]
                    with ledger.lock:
                        if len(mine) != 1:
                            ledger.problems.append(f"follow-up {marker} shows {len(mine)} times in its case")
                        for f in mine:
                            ledger.followups[f["id"]] = (case_id, notes)
            elif kind == "feedback":
                case_id = rng.choice(known)
                event = rng.choice(("helpful", "wrong", "copied"))
                r = op.post("/v1/feedback", json={"event": event, "case_id": case_id, "entry_id": entry_id,
                                                  "entry_version": 1, "query": f"反馈 {marker}"})
                if r.status_code == 201:
                    with ledger.lock:
                        ledger.feedback[r.json()["id"]] = (case_id, event)
            elif kind == "question":
                r = anon.post("/v1/faq/ask", json={"question": f"押金不退怎么办（{marker}）"})
                if r.status_code == 200:
                    with ledger.lock:
                        ledger.questions[r.json()["answer_id"]] = marker
            else:
                got = staff.get(f"/v1/entries/{entry_id}")
                if got.status_code != 200:
                    r = got
                else:
                    title = f"崩溃测试 {marker}"
                    r = staff.put(f"/v1/entries/{entry_id}", headers={"If-Match": got.headers["etag"]},
                                  json={"content": {**got.json()["content"], "title": title}})
                    if r.status_code == 200:
                        with ledger.lock:
                            ledger.edits[(entry_id, r.json()["version"])] = title
            if r.status_code >= 300:
                with ledger.lock:
                    ledger.problems.append(f"{kind} {marker}: {r.status_code} {r.text[:200]}")
    except httpx.TransportError:
        pass  # the server was killed: whatever was in flight was never acknowledged
    finally:
        op.close()
        staff.close()
        anon.close()


def check_database(db: Path, ledger: Ledger) -> tuple[str, int, int]:
    """(integrity_check result, foreign-key violations, acknowledged writes missing or changed)."""
    conn = sqlite3.connect(db)
    try:
        integrity = ", ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        fk = len(conn.execute("PRAGMA foreign_key_check").fetchall())
        cases = dict(conn.execute("SELECT id, text_masked FROM cases"))
        followups = {i: (c, n) for i, c, n in conn.execute("SELECT id, case_id, notes FROM case_followups")}
        feedback = {i: (c, e) for i, c, e in conn.execute("SELECT id, case_id, event FROM feedback")}
        revisions = {(e, v): json.loads(c)["title"] for e, v, c in
                     conn.execute("SELECT entry_id, version, content FROM entry_revisions")}
        questions = dict(conn.execute("SELECT id, text_masked FROM questions"))
    finally:
        conn.close()
    with ledger.lock:
        missing = sum(cases.get(k) != v for k, v in ledger.cases.items())
        missing += sum(followups.get(k) != v for k, v in ledger.followups.items())
        missing += sum(feedback.get(k) != v for k, v in ledger.feedback.items())
        missing += sum(revisions.get(k) != v for k, v in ledger.edits.items())
        missing += sum(v not in (questions.get(k) or "") for k, v in ledger.questions.items())
    return integrity, fk, missing


def run_cycles(tmp: Path, model_dir: Path, cycles: int, seed: int) -> dict:
    rng = random.Random(seed)
    service = Service(tmp, model_dir)
    ledger = Ledger()
    integrity_ok = fk_clean = 0
    missing_total = 0
    first_write: list[float | None] = []
    try:
        service.start()
        tokens = {}
        for role, name in (("operator", "crash-op"), ("staff", "crash-staff")):
            r = httpx.post(f"{service.url}/v1/auth/login", json={"name": name, "password": PASSWORD}, timeout=30)
            assert r.status_code == 200, r.text
            tokens[role] = r.json()["token"]  # sign-ins are stored: they outlive the kills
        entries = []
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {tokens['staff']}"}, timeout=60) as c:
            for i in range(WRITERS):
                r = c.post("/v1/entries", json={"content": {**ENTRY, "slug": f"crash-entry-{i}"}})
                assert r.status_code == 201, r.text
                entries.append(r.json()["id"])
        for cycle in range(cycles):
            if cycle:
                service.start()
            stop = threading.Event()
            before = ledger.total
            t0 = time.perf_counter()
            threads = [threading.Thread(target=_writer, args=(service.url, tokens, entries[i], f"w{i}x", cycle, ledger,
                                                              stop, random.Random(rng.random())), daemon=True)
                       for i in range(WRITERS)]
            for t in threads:
                t.start()
            # Kill mid-stream: once writes are landing, after a random pause (long enough, often, for the
            # first case of a fresh process: its triage loads the classifier, ~3 s).
            while ledger.total == before and time.perf_counter() - t0 < 60:
                time.sleep(0.01)
            first_write.append(time.perf_counter() - t0 if ledger.total > before else None)
            time.sleep(rng.uniform(0.1, 3.0))
            service.kill()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            integrity, fk, missing = check_database(service.data / "jishibang.db", ledger)
            integrity_ok += integrity == "ok"
            fk_clean += fk == 0
            missing_total += missing
            if integrity != "ok" or fk or missing:
                ledger.problems.append(f"cycle {cycle}: integrity {integrity!r}, {fk} foreign-key violations, "
                                       f"{missing} acknowledged writes missing")
            if (cycle + 1) % 10 == 0:
                print(f"[crash] {tmp.name}: {cycle + 1}/{cycles} kills, {ledger.total} acknowledged writes, "
                      f"{missing_total} missing", flush=True)
        # The last kill too: the service comes back and serves what it acknowledged.
        service.start()
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {tokens['operator']}"}, timeout=60) as c:
            case_id = max(ledger.cases)
            r = c.get(f"/v1/cases/{case_id}")
            if r.status_code != 200 or r.json()["text_masked"] != ledger.cases[case_id]:
                ledger.problems.append(f"after the last restart case {case_id} reads {r.status_code}")
    finally:
        service.stop()
    return {"cycles": cycles, "cycles_with_writes": sum(1 for t in first_write if t is not None),
            "acknowledged": {"cases": len(ledger.cases), "followups": len(ledger.followups),
                             "feedback": len(ledger.feedback), "edits": len(ledger.edits),
                             "questions": len(ledger.questions)},
            "missing": missing_total, "integrity_ok": integrity_ok, "foreign_keys_clean": fk_clean,
            "starts": service.starts, "first_ack": [t for t in first_write if t is not None],
            "problems": ledger.problems}


def _median(values: list[float]) -> float:
    return round(sorted(values)[len(values) // 2], 2)


def run_streams(tmp: Path, model_dir: Path, cycles: int, streams: int) -> dict:
    """``streams`` independent servers, each on its own data dir, share the cycles. A restart is mostly one
    core's work (imports, loading the model), so two streams keep both cores busy and halve the wall time."""
    per = [cycles // streams + (i < cycles % streams) for i in range(streams)]
    with ThreadPoolExecutor(streams) as pool:
        parts = list(pool.map(lambda i: run_cycles(tmp / f"stream{i}", model_dir, per[i], seed=1000 * cycles + i),
                              range(streams)))
    starts = [p["starts"] for p in parts]
    restarts = [t for s in starts for t in s[1:]]
    return {
        "cycles": sum(p["cycles"] for p in parts), "streams": streams,
        "cycles_with_writes": sum(p["cycles_with_writes"] for p in parts),
        "acknowledged": {k: sum(p["acknowledged"][k] for p in parts) for k in parts[0]["acknowledged"]},
        "missing": sum(p["missing"] for p in parts), "integrity_ok": sum(p["integrity_ok"] for p in parts),
        "foreign_keys_clean": sum(p["foreign_keys_clean"] for p in parts),
        "server_start_s": {"first_with_seeding": round(max(s[0] for s in starts), 2),
                           "restart_median": _median(restarts), "restart_max": round(max(restarts), 2)},
        "first_ack_after_start_s_median": _median([t for p in parts for t in p["first_ack"]]),
        "problems": [q for p in parts for q in p["problems"]],
    }


def _check(tmp_path: Path, local_model_dir: Path, cycles: int, streams: int) -> None:
    t0 = time.perf_counter()
    report = run_streams(tmp_path, local_model_dir, cycles, streams)
    report["elapsed_s"] = round(time.perf_counter() - t0, 1)
    report["acknowledged"]["total"] = sum(report["acknowledged"].values())
    print(f"\n[crash] {json.dumps({k: v for k, v in report.items() if k != 'problems'}, ensure_ascii=False)}")
    assert not report["problems"], report["problems"][:10]
    assert report["integrity_ok"] == cycles and report["foreign_keys_clean"] == cycles
    assert report["missing"] == 0
    assert report["cycles_with_writes"] == cycles  # every kill came during acknowledged writes
    assert all(n > 0 for n in report["acknowledged"].values()), report["acknowledged"]


def test_kill_9_during_writes_loses_nothing_acknowledged(tmp_path: Path, local_model_dir: Path) -> None:
    _check(tmp_path, local_model_dir, cycles=5, streams=1)


@pytest.mark.stress
def test_a_hundred_kills_during_writes_lose_nothing_acknowledged(tmp_path: Path, local_model_dir: Path) -> None:
    _check(tmp_path, local_model_dir, cycles=scaled(100, floor=10), streams=2)
