"""Schemathesis against the app's own OpenAPI document, from a real server, as every role.

Each role gets a full `schemathesis run` (its examples, coverage, fuzzing and stateful phases; at most 100
generated cases per operation in the fuzzing phase) with three checks: no 5xx (not_a_server_error), every body
matches the schema declared for its status (response_schema_conformance) and every status is declared
(status_code_conformance). The admin signs in through POST /v1/auth/login and again when the fuzzer's own logout
revokes its token; the other roles use an API key of their role (see _config). Long: marked `stress`, run by
`.ci/run` after the default tests.

    pytest tests/test_fuzz_schema.py -m stress -s     # prints operations, cases and failures per role
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, ROLES, ApiServer, start_server, stop_server
from tests.stress_scale import scaled

pytestmark = [pytest.mark.stress, pytest.mark.model]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
MAX_EXAMPLES = scaled(100, floor=20)  # 100 unless CI is short of time (tests/stress_scale.py)
# Two runs at a time against a server with two workers. The admin comes last, beside the anonymous run only:
# its fuzzed key revocations and user disabling must not cut off a run still using a key.
LANES = ((("operator", "enterprise"), ("staff", "enterprise_b")), (("admin",), ("anonymous",)))
ORDER = ("operator", "enterprise", "staff", "enterprise_b", "admin", "anonymous")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, local_model_dir: Path) -> Iterator[ApiServer]:
    env = {
        # The fuzzer asks thousands of questions and signs in again after every logout it provokes.
        "JISHIBANG_FAQ_RATE_PER_MINUTE": "1000000", "JISHIBANG_LOGIN_RATE_PER_MINUTE": "1000000",
        # The WeChat callback is on, so it is fuzzed as it runs; its API base is a closed local port.
        "JISHIBANG_WECHAT_TOKEN": "fuzz-token", "JISHIBANG_WECHAT_API_BASE": "http://127.0.0.1:9",
    }
    server = start_server(tmp_path_factory.mktemp("fuzz"), local_model_dir, env, workers=2)
    try:
        _records_for_every_role(server)
        yield server
    finally:
        stop_server(server)


def _records_for_every_role(server: ApiServer) -> None:
    """Cases dispatched to both platforms, so the enterprise roles reach their queues and replies."""
    with server.client("operator") as op:
        for text, platform in (("美团骑手在新会区被站点扣了三百元罚款，申诉没人理", "美团"),
                               ("滴滴司机账号被封，申诉一周没有结果", "滴滴")):
            case = op.post("/v1/cases", json={"text": text, "channel": "wechat"})
            assert case.status_code == 201, case.text
            d = op.post(f"/v1/cases/{case.json()['id']}/dispatch", json={"platform": platform, "note": "请核实"})
            assert d.status_code == 201, d.text


def _config(server: ApiServer, role: str, where: Path) -> Path:
    """A schemathesis.toml with the role's credentials.

    The admin signs in through POST /v1/auth/login, and again after a 401 (its fuzzed /v1/auth/logout revokes
    the token). The other roles use an API key of their role (and platform): a logout cannot revoke a key, and
    only an admin can, so their runs never pay an argon2 sign-in after each 401 the coverage phase provokes."""
    path = where / f"schemathesis-{role}.toml"
    lines = ["[generation]", 'database = "none"', ""]
    if role == "admin":
        lines += ["[auth.dynamic.openapi.HTTPBearer]", 'path = "/v1/auth/login"',
                  f'payload = {{ name = "{ROLES[role][0]}", password = "{PASSWORD}" }}', 'extract_selector = "/token"']
    elif role != "anonymous":
        base, platform = role.removesuffix("_b"), ROLES[role][1]
        with server.client("admin") as admin:
            r = admin.post("/v1/admin/keys", json={"role": base, "platform": platform, "label": f"fuzz {role}"})
        assert r.status_code == 201, r.text
        lines += ["[auth.openapi.HTTPBearer]", f'bearer = "{r.json()["key"]}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def _fuzz(server: ApiServer, role: str, where: Path) -> dict:
    report, events, output = where / f"{role}.json", where / f"{role}.ndjson", where / f"{role}.txt"
    cmd = [str(SCHEMATHESIS), "--config-file", str(_config(server, role, where)), "run", f"{server.url}/openapi.json",
           "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing,stateful",
           "--workers", "1", "--request-timeout", "60", "--no-color",
           "--report", "json,ndjson", "--report-json-path", str(report), "--report-ndjson-path", str(events)]
    started = time.monotonic()
    with open(output, "w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=where, timeout=1800)
    text = output.read_text()
    assert report.exists(), f"schemathesis wrote no report for {role} (exit {done.returncode}):\n{text[-3000:]}"
    result = json.loads(report.read_text())
    result["seconds"] = time.monotonic() - started
    result["per_operation"], result["stateful_steps"] = _cases_per_operation(events)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", text)
    result["links"] = (int(links.group(1)), int(links.group(2))) if links else (0, 0)
    result["output"] = text
    events.unlink()  # tens of MB of recorded requests; the counts are kept
    return result


def _cases_per_operation(events: Path) -> tuple[dict[str, Counter], int]:
    """Generated cases per operation and phase, and the steps the stateful phase took (from the event log)."""
    per: dict[str, Counter] = defaultdict(Counter)
    steps = 0
    with open(events) as fh:
        for line in fh:
            if not line.startswith('{"ScenarioFinished"'):
                continue
            event = json.loads(line)["ScenarioFinished"]
            cases = event.get("recorder", {}).get("cases", {})
            if event["phase"] == "stateful":
                steps += len(cases)
                for case in cases.values():
                    value = case["value"]
                    per[f"{value['method']} {value['path']}"]["stateful"] += 1
            else:
                per[event["recorder"]["label"]][event["phase"]] += len(cases)
    return per, steps


def test_schemathesis_as_every_role(fuzz_server: ApiServer, tmp_path: Path) -> None:
    spec = httpx.get(f"{fuzz_server.url}/openapi.json").json()
    operations = sorted(f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops)
    inputless = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m, op in ops.items()
                 if not (op.get("parameters") or op.get("requestBody") or op.get("security"))}
    started = time.monotonic()
    results: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for stage in LANES:
            lanes = [pool.submit(lambda roles=roles: {r: _fuzz(fuzz_server, r, tmp_path) for r in roles}) for roles in stage]
            for lane in lanes:
                results.update(lane.result())
    results = {role: results[role] for role in ORDER}
    elapsed = time.monotonic() - started

    version = next(iter(results.values()))["schemathesis_version"]
    print(f"\nschemathesis {version} against {len(operations)} operations, at most {MAX_EXAMPLES} fuzzed cases "
          f"each, checks {CHECKS}; seeds {({role: r['seed'] for role, r in results.items()})}")
    print(f"{'role':<13} {'tested':>7} {'cases':>7} {'fuzz':>6} {'min/op':>6} {'steps':>6} {'links':>9} "
          f"{'failures':>8} {'errors':>6} {'seconds':>7}")
    for role, r in results.items():
        fuzz_counts = [r["per_operation"][op]["fuzzing"] for op in operations]
        print(f"{role:<13} {r['operations']['tested']:>7} {r['test_cases']['generated']:>7} {sum(fuzz_counts):>6} "
              f"{min(fuzz_counts):>6} {r['stateful_steps']:>6} {'%d/%d' % r['links']:>9} "
              f"{sum(f['count'] for f in r['failures']):>8} {sum(e['count'] for e in r['errors']):>6} {r['seconds']:>7.0f}")
    print(f"total {sum(r['test_cases']['generated'] for r in results.values())} cases in {elapsed:.0f} s")
    # Operations with a small input space (no parameters, a few enums) run out of distinct cases before 100.
    for role, r in results.items():
        few = {op: r["per_operation"][op]["fuzzing"] for op in operations if r["per_operation"][op]["fuzzing"] < MAX_EXAMPLES}
        print(f"{role}: {len(operations) - len(few)} operations fuzzed with {MAX_EXAMPLES} cases; fewer: "
              + ", ".join(f"{op} {n}" for op, n in sorted(few.items(), key=lambda x: x[1])))

    problems = {role: (r["failures"], r["errors"]) for role, r in results.items() if r["failures"] or r["errors"]}
    detail = "\n\n".join(f"--- {role} ---\n" + _failures_section(results[role]["output"]) for role in problems)
    assert not problems, f"{json.dumps(problems, ensure_ascii=False, indent=1)}\n{detail}"
    for role, r in results.items():
        assert r["complete"] and r["stop_reason"] == "completed", (role, r["stop_reason"])
        assert r["operations"]["tested"] == len(operations), (role, r["operations"])
        # Every operation was fuzzed as this role; almost all with the full 100 cases (see the list printed above).
        assert all(r["per_operation"][op]["fuzzing"] >= 1 for op in operations), role
        short = [op for op in operations if op not in inputless and r["per_operation"][op]["fuzzing"] < MAX_EXAMPLES]
        assert len(short) <= 2, (role, short)
    # Every operation that takes input got 100 fuzzed cases as some role. (As admin, DELETE /v1/admin/keys/{key_id}
    # draws its ids from the keys it has seen and runs out of new ones after a few.)
    assert all(max(r["per_operation"][op]["fuzzing"] for r in results.values()) >= MAX_EXAMPLES
               for op in operations if op not in inputless)
    # The stateful phase chained calls (create, then read / edit ...) for the roles that may create records.
    for role in ("operator", "staff", "admin"):
        assert results[role]["stateful_steps"] > 0 and results[role]["links"][0] > 0, (role, results[role]["links"])
    # The admin's run disables the users it finds (GET /v1/admin/users, then /disable), but never itself.
    r = httpx.post(f"{fuzz_server.url}/v1/auth/login", json={"name": ROLES["admin"][0], "password": PASSWORD})
    assert r.status_code == 200, r.text


def _failures_section(output: str) -> str:
    start = output.find("= FAILURES =")
    start = output.find("= ERRORS =") if start < 0 else start
    return output[start:start + 6000] if start >= 0 else output[-3000:]
