"""Routes in-process: the FastAPI app with fast stand-ins (a hash embedder with the real interface, the TF-IDF
triage model `make models` keeps beside the served one, a BM25 index with the session's ranking model), through
FastAPI's TestClient. The same app, the same routes and error shapes as in production; tests/test_api.py
checks them again over real HTTP with the real models (marked `integration`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.registry import triage_root
from tests.conftest import REPO
from triage import classifier as artifact

PASSWORD = "a-long-test-password-1"


def _tfidf_model(into: Path) -> None:
    """Serve the TF-IDF model `make models` saved beside the current one (it needs no embedding model)."""
    built = triage_root(REPO / "models" / "artifacts")
    side = sorted(p.name for p in built.glob("*-tfidf") if (p / "manifest.json").exists())
    if not side:
        pytest.skip("no TF-IDF triage model under models/artifacts (run `make models`)")
    root = triage_root(into)
    root.mkdir(parents=True)
    (root / side[-1]).symlink_to(built / side[-1])
    artifact.set_current(root, side[-1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, bm25_ranking: Path) -> Iterator[tuple[TestClient, Any]]:
    from api.app import create_app
    from api.context import open_runtime
    from api.settings import Settings
    from triage.fake_embedder import HashEmbedder

    tmp = tmp_path_factory.mktemp("routes")
    models = tmp / "models"
    _tfidf_model(models)
    (models / "search").mkdir()
    (models / "search" / "ranking.json").write_bytes(bm25_ranking.read_bytes())
    settings = Settings(data_dir=tmp / "data", model_dir=models, faq_rate_per_minute=10_000)
    made: list[Any] = []

    def runtime() -> Any:
        rt = open_runtime(settings, embedder=HashEmbedder(), dense_index=False)
        made.append(rt)
        return rt

    with TestClient(create_app(settings, runtime=runtime)) as client:
        rt = made[0]
        for name, role, platform in (("op", "operator", None), ("st", "staff", None), ("mt", "enterprise", "美团")):
            rt.accounts.add_user(name, role, PASSWORD, platform=platform)
        yield client, rt


def _auth(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/v1/auth/login", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_ready_with_every_part_loaded(app) -> None:
    client, _ = app
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert set(r.json()["checks"]) == {"database", "embedding_model", "triage_model", "search_index",
                                       "ranking_model", "data_dir"}


def test_triage_masks_and_says_what_danger_it_sees(app) -> None:
    client, _ = app
    r = client.post("/v1/triage", json={"text": "站长不退押金800元，我电话13812345678"}, headers=_auth(client, "op"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "13812345678" not in body["text_masked"] and "[手机号]" in body["text_masked"]
    assert body["danger"]["level"] in ("none", "passive", "now") and "deposit_refund" in body["labels"]


def test_suggest_orders_by_the_score_shown_and_warns_only_without_a_likely_one(app) -> None:
    client, _ = app
    headers = _auth(client, "op")
    good = client.post("/v1/suggest", json={"text": "站长收了押金，辞职以后不退，找谁"}, headers=headers).json()
    scores = [s["score"] for s in good["suggestions"]]
    assert scores == sorted(scores, reverse=True)
    assert good["banner"] is (not any(s["tier"] in ("confident", "likely") for s in good["suggestions"]))
    off = client.post("/v1/suggest", json={"text": "红烧肉怎么做才好吃，要放几勺糖"}, headers=headers).json()
    assert off["tier"] == "none" and off["banner"] is True and off["no_good_answer"] is True


def test_a_question_about_self_harm_leads_with_crisis_support_then_the_question_asked(app) -> None:
    client, runtime = app
    text = "押金被车行老板骗了三千，是我半个月的钱。最近每天都在想，活着到底有什么意思，消失了也没人在乎吧"
    body = client.post("/v1/faq/ask", json={"question": text}).json()
    assert body["crisis"] == "passive" and "12356" in body["message"]
    first = body["answers"][0]
    assert first["pinned"] == "safety" and body["tier"] in ("confident", "likely")
    entries = {e.id: e for e in runtime.store.list(status="published", limit=10_000)[0]}
    assert entries[first["entry_id"]].issue_types[0] == "mental_crisis"
    assert all(a["pinned"] is None for a in body["answers"][1:])
    note = client.post("/v1/suggest", json={"text": text}, headers=_auth(client, "op")).json()
    lead, *rest = note["suggestions"]
    assert lead["pinned"] == "safety" and entries[lead["entry_id"]].issue_types[0] == "mental_crisis"
    assert lead["entry_id"] not in [s["entry_id"] for s in rest]
    scores = [s["score"] for s in rest]
    assert scores == sorted(scores, reverse=True) and all(s["pinned"] is None for s in rest)
    # The same deposit question without the despair: nothing is pinned.
    plain = client.post("/v1/faq/ask", json={"question": "押金被车行老板骗了三千，是我半个月的钱，怎么办"}).json()
    assert plain["crisis"] is None and all(a["pinned"] is None for a in plain["answers"])


def test_a_danger_now_leads_with_what_to_do_right_now(app) -> None:
    """A rider hit by a car and lying in the road: the scene's first steps come first (hotline/data/first_steps.yaml),
    pinned, before the compensation the note also asks about; the rest follow by score."""
    from hotline.assist import first_steps

    client, runtime = app
    text = "骑手刚刚送单被小车撞了，现在躺在路边起不来，腿一直流血，对方司机问要赔多少钱"
    note = client.post("/v1/suggest", json={"text": text}, headers=_auth(client, "op")).json()
    assert note["triage"]["urgency"]["level"] == "emergency", note["triage"]["urgency"]
    lead, *rest = note["suggestions"]
    entries = {e.id: e for e in runtime.store.list(status="published", limit=10_000)[0]}
    assert lead["pinned"] == "safety" and entries[lead["entry_id"]].slug in first_steps()["acute_injury"]
    assert lead["tier"] in ("confident", "likely") and note["banner"] is False
    scores = [s["score"] for s in rest]
    assert scores == sorted(scores, reverse=True) and all(s["pinned"] is None for s in rest)
    body = client.post("/v1/faq/ask", json={"question": text}).json()
    assert body["emergency"] is True and body["answers"][0]["pinned"] == "safety"


def test_a_need_chosen_in_the_clarifying_question_gets_that_needs_best_entry(app) -> None:
    """Choosing one of our clarifying question's needs never ends in "we are not sure": the best entry for that need
    comes back, hedged."""
    client, runtime = app
    entries = {e.id: e for e in runtime.store.list(status="published", limit=10_000)[0]}
    for need in ("deposit_refund", "pay_settlement"):
        body = client.post("/v1/faq/ask", json={"question": "被扣钱了", "need": need}).json()
        assert body["tier"] in ("confident", "likely") and body["answers"], body
        assert need in entries[body["answers"][0]["entry_id"]].issue_types
        assert body["clarify"] is None  # no second question
    noise = client.post("/v1/faq/ask", json={"question": "asdfghjkl", "need": "deposit_refund"}).json()
    assert noise["tier"] == "none" and noise["answers"] == []


@pytest.mark.parametrize("text,message", [("你好在吗", "你好"), ("押金" * 200, "一两句话"), ("asdfghjkl", "一两句话")])
def test_greetings_and_noise_never_get_an_answer(app, text: str, message: str) -> None:
    client, _ = app
    body = client.post("/v1/faq/ask", json={"question": text}).json()
    assert body["tier"] == "none" and body["answers"] == [] and message in body["message"]


def test_a_handoff_makes_one_case_with_the_number_sealed(app) -> None:
    client, rt = app
    asked = client.post("/v1/faq/ask", json={"question": "我家楼下的猫晚上一直叫怎么办"}).json()
    r = client.post("/v1/faq/handoff", json={"answer_id": asked["answer_id"], "callback": "139-1234-5678",
                                             "note": "我叫张三电话13912345678"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["created"] is True and first["reference"].startswith("W")
    again = client.post("/v1/faq/handoff", json={"answer_id": asked["answer_id"]}).json()
    assert again["case_id"] == first["case_id"] and again["created"] is False  # one case per question
    case = client.get(f"/v1/cases/{first['case_id']}", headers=_auth(client, "op")).json()
    assert case["channel"] == "web" and case["callback"] == "13912345678" and case["reference"] == first["reference"]
    assert "13912345678" not in case["text_masked"] and "[手机号]" in case["text_masked"]
    db = rt.settings.data_dir / "jishibang.db"
    conn = sqlite3.connect(db)
    try:
        stored = " ".join(str(v) for row in conn.execute("SELECT * FROM cases") for v in row)
    finally:
        conn.close()
    assert "13912345678" not in stored  # sealed in callback_sealed, masked in the text
    enterprise = client.get(f"/v1/cases/{first['case_id']}", headers=_auth(client, "mt"))
    assert enterprise.status_code in (403, 404)


def test_a_handoff_for_an_unknown_answer_is_404_in_both_languages(app) -> None:
    client, _ = app
    r = client.post("/v1/faq/handoff", json={"answer_id": 999_999})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["message"] and err["message_zh"]


def test_danger_verdicts_are_recorded_and_a_missing_message_is_refused_in_chinese(app) -> None:
    client, _ = app
    headers = _auth(client, "op")
    ok = client.post("/v1/feedback", json={"event": "not_emergency", "query": "今天跑了12个小时累死了"}, headers=headers)
    assert ok.status_code == 201, ok.text
    bad = client.post("/v1/feedback", json={"event": "emergency"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["message_zh"] == "紧急情况的判断需要附上消息内容或个案"


def test_search_defaults_to_what_the_index_supports_and_refuses_the_rest(app) -> None:
    client, _ = app
    headers = _auth(client, "op")
    r = client.post("/v1/search", json={"query": "押金不退"}, headers=headers)
    assert r.status_code == 200 and r.json()["hits"]
    refused = client.post("/v1/search", json={"query": "押金不退", "mode": "dense"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "mode_unavailable"
