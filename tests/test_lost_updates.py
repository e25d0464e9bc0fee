"""Lost updates: many trials of 2-8 staff editing one entry at the same moment, over real HTTP, on SQLite
and PostgreSQL (the `server` fixture). In every trial each editor reads the entry, all of them wait on a
barrier, then all send their edit naming the version they read (in the body, or as If-Match). Exactly one
edit may win per version; every other one must be refused (409, or 412 with If-Match), never a 5xx; and
at the end the entry's history must hold every accepted body, in order, with nothing lost or extra."""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest

from tests.stress_scale import scaled

pytestmark = [pytest.mark.model, pytest.mark.integration]

MAX_EDITORS = 8
CONTENT = {"kind": "faq", "title": "并发编辑测试条目", "question": "并发编辑时谁的修改会保存",
           "operator_answer": "接线员答复", "worker_answer": "给工人的答复", "issue_types": ["legal_consult"],
           "referrals": ["union_lawyer"]}


@dataclass
class Tally:
    trials: int = 0
    attempts: int = 0
    successes: int = 0
    refusals: int = 0
    lost: int = 0
    overlapping: int = 0  # trials in which every edit was in flight at one moment
    problems: list[str] = field(default_factory=list)
    accepted: list[tuple[int, dict]] = field(default_factory=list)  # (version made, body sent), in order


def _attempt(c: httpx.Client, entry_id: int, title: str, via_header: bool, barrier: threading.Barrier
             ) -> tuple[int, int, bool, dict, httpx.Response, float, float]:
    """One editor: read the entry, wait for the others, then send an edit naming the version read."""
    got = c.get(f"/v1/entries/{entry_id}")
    got.raise_for_status()
    read = got.json()
    content = {**read["content"], "title": title}
    barrier.wait(timeout=60)
    sent = time.perf_counter()
    if via_header:
        r = c.put(f"/v1/entries/{entry_id}", json={"content": content}, headers={"If-Match": got.headers["etag"]})
    else:
        r = c.put(f"/v1/entries/{entry_id}", json={"version": read["version"], "content": content})
    return read["version"], r.status_code, via_header, content, r, sent, time.perf_counter()


def run_trials(server, trials: int, seed: int) -> Tally:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    with server.client("staff") as c:
        r = c.post("/v1/entries", json={"content": {**CONTENT, "slug": f"lost-updates-{uuid.uuid4().hex[:10]}"}})
        assert r.status_code == 201, r.text
        entry_id = r.json()["id"]
    tally = Tally()
    clients = [server.client("staff") for _ in range(MAX_EDITORS)]  # one keep-alive connection per editor
    try:
        with ThreadPoolExecutor(MAX_EDITORS) as pool:
            for t in range(trials):
                n = rng.randint(2, MAX_EDITORS)
                headers = [rng.random() < 0.4 for _ in range(n)]
                barrier = threading.Barrier(n)
                futures = [pool.submit(_attempt, clients[i], entry_id, f"第{t}轮 编辑者{i}", headers[i], barrier)
                           for i in range(n)]
                results = [f.result() for f in futures]
                tally.trials += 1
                tally.attempts += n
                tally.overlapping += max(x[5] for x in results) < min(x[6] for x in results)
                read_versions = {v for v, *_ in results}
                if len(read_versions) != 1:
                    tally.problems.append(f"trial {t}: editors read different versions {sorted(read_versions)}")
                read = min(read_versions)
                wins = [(body, r) for _, code, _, body, r, *_ in results if code == 200]
                tally.successes += len(wins)
                if len(wins) != 1:
                    tally.problems.append(f"trial {t}: {len(wins)} edits of version {read} accepted")
                for body, r in wins:
                    made = r.json()["version"]
                    if made != read + 1 or r.headers.get("etag") != f'"{made}"' or r.json()["content"] != body:
                        tally.problems.append(f"trial {t}: an edit of version {read} made version {made}")
                    tally.accepted.append((made, body))
                for _, code, via_header, _, r, *_ in results:
                    if code == 200:
                        continue
                    expected = 412 if via_header else 409
                    if code != expected:
                        tally.problems.append(f"trial {t}: a stale edit got {code} (want {expected}): {r.text[:200]}")
                        continue
                    tally.refusals += 1
                    err = r.json()["error"]
                    if err["details"].get("current") != read + 1 or not err["message_zh"]:
                        tally.problems.append(f"trial {t}: refusal names {err['details']} (want current {read + 1})")
        with server.client("staff") as c:
            history = c.get(f"/v1/entries/{entry_id}/history").json()
    finally:
        for client in clients:
            client.close()
    by_version = {h["version"]: h for h in history}
    if [h["version"] for h in history] != list(range(1, len(history) + 1)):
        tally.problems.append(f"history versions are not 1..n in order: {[h['version'] for h in history][:20]}")
    for made, body in tally.accepted:
        h = by_version.get(made)
        if h is None or h["content"] != body or h["action"] != "edit":
            tally.lost += 1
    extra = len(history) - 1 - len(tally.accepted)  # anything beyond the create and the accepted edits
    if extra:
        tally.problems.append(f"history holds {extra} revisions nobody was told were accepted")
    if [v for v, _ in tally.accepted] != list(range(2, len(tally.accepted) + 2)):
        tally.problems.append("accepted versions are not consecutive")
    return tally


def _check(server, request: pytest.FixtureRequest, trials: int) -> None:  # type: ignore[no-untyped-def]
    backend = request.node.callspec.params["server"]
    t0 = time.perf_counter()
    tally = run_trials(server, trials, seed=trials)
    elapsed = time.perf_counter() - t0
    print(f"\n[lost updates] {backend}: trials {tally.trials}, attempts {tally.attempts}, successes {tally.successes}, "
          f"refusals {tally.refusals}, lost {tally.lost}, problems {len(tally.problems)}, "
          f"trials with every edit in flight at once {tally.overlapping}, elapsed {elapsed:.1f} s")
    assert not tally.problems, tally.problems[:10]
    assert tally.successes == trials and tally.refusals == tally.attempts - trials
    assert tally.lost == 0


def test_concurrent_editors_never_lose_an_update(server, request: pytest.FixtureRequest) -> None:
    _check(server, request, trials=50)


@pytest.mark.stress
def test_a_thousand_trials_of_concurrent_editors_lose_nothing(server, request: pytest.FixtureRequest) -> None:
    _check(server, request, trials=scaled(1000, floor=100))
