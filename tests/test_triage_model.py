"""The trained triage model through the CLI and the library: contract, safety, artifacts, targets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.registry import triage_root
from tests.conftest import REPO, SHARED, run_cli
from triage import classifier as artifact
from triage.errors import ArtifactError

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def model_dir(local_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model dir `make models` filled (e5 + current triage model); else train TF-IDF-only into a temp dir."""
    built = REPO / "models" / "artifacts"
    if artifact.current_version(triage_root(built)):
        return built
    from models.train_pipeline import train_and_save

    out = tmp_path_factory.mktemp("models")
    (out / local_model_dir.name).symlink_to(local_model_dir)
    train_and_save(out, str(out / local_model_dir.name), SHARED, out / "reports", use_embeddings=False)
    return out


@pytest.fixture
def env(model_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {"JISHIBANG_MODEL_DIR": str(model_dir), "JISHIBANG_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture(scope="session")
def triager(model_dir: Path):  # type: ignore[no-untyped-def]
    """One in-process model for the behaviour tests (the CLI tests below spawn the real command)."""
    from api.settings import Settings
    from models.registry import load_triager
    from triage.embedder import Embedder

    served = Settings(model_dir=model_dir)  # the embedder the service runs (backend and variant)
    return load_triager(model_dir, Embedder(served.embedding_model_path, **served.embedder_options))


def analyse(triager, text: str, now: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    from datetime import datetime

    return triager.analyse(text, datetime.fromisoformat(now) if now else None).to_dict()


def triage(env: dict[str, str], *args: str) -> dict:
    out = run_cli("triage", *args, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_result_contract(env) -> None:
    r = triage(env, "我喺蓬江跑美团众包，站长收咗我800蚊押金，辞职之后唔肯退，电话13812345678", "--now", "2026-11-29T10:00")
    assert set(r) >= {"text_masked", "pii", "issue_types", "labels", "abstain", "urgency", "entities", "deadlines", "referrals"}
    assert "13812345678" not in json.dumps(r, ensure_ascii=False) and "[手机号]" in r["text_masked"]
    assert len(r["issue_types"]) == 16 and r["issue_types"][0]["score"] >= r["issue_types"][-1]["score"]
    assert "deposit_refund" in r["labels"]
    assert r["entities"]["platforms"] == ["美团"] and r["entities"]["districts"] == ["蓬江区"]
    assert r["entities"]["money"][0]["value"] == 800.0
    assert r["referrals"][0]["target"] == "labor_inspection" and r["referrals"][0]["evidence"]


@pytest.mark.parametrize(
    "text",
    ["保安正在打我，好多血，救命", "我真的撑不下去了，药都买好了", "同事送餐被货车撞了躺在地上没反应"],
)
def test_emergencies_come_first(triager, text) -> None:
    r = analyse(triager, text)
    assert r["urgency"]["level"] == "emergency" and not r["abstain"]
    assert r["referrals"][0]["target"] in ("ambulance", "police", "mental_health")
    assert r["urgency"]["reasons"][0]["detail"]


@pytest.mark.parametrize("text", ["今天跑了12个小时累死了，站长还扣我钱", "气死我了，顾客给了差评", "想死你们了，过年回家",
                                  "热死了今天，中午没地方歇", "笑死，客人又点错地址"])
def test_hyperbole_is_not_an_emergency(triager, text) -> None:
    r = analyse(triager, text)
    assert r["urgency"]["level"] != "emergency" and r["danger"]["level"] == "none", (text, r["danger"])
    assert all(ref["target"] not in ("police", "ambulance") for ref in r["referrals"][:1])


# Chit-chat the hotline's WeChat account gets (written for this test, not drawn from any corpus or evaluation set).
# The detector had no such negatives and put weather and a birthday poem over its threshold.
# Two failed until the detector read its nearest written examples (triage.danger.NeighbourMemory): as words,
# "给我妈" and "今天" carry weight from euphemistic goodbyes ("钱都转给我妈了"). None is marked as known any more.
KNOWN_FALSE_EMERGENCIES: set[str] = set()


@pytest.mark.parametrize("text", [pytest.param(t, marks=pytest.mark.xfail(t in KNOWN_FALSE_EMERGENCIES, strict=True,
                                                                          reason="known false emergency"))
                                  for t in ["今晚会不会落雨啊", "帮我写首关于春天的诗", "帮我写一首诗给我妈，母亲节用", "今天几号",
                                            "帮我翻译一下：谢谢你的帮助", "明天广州天气点样？", "帮我写一段结婚纪念日的话给老公，要温馨点",
                                            "世界杯决赛几点开踢", "你是机器人吗", "推荐一下江门有什么好吃的"]])
def test_chit_chat_is_not_an_emergency(triager, text) -> None:
    r = analyse(triager, text)
    assert r["urgency"]["level"] != "emergency" and r["danger"]["level"] == "none", (text, r["danger"])


def test_passive_ideation_is_its_own_level_with_12356_first(triager) -> None:
    r = analyse(triager, "号被封了一个月，欠了一屁股债，每天醒来都在想活着有什么意思，不如睡过去别醒了")
    assert r["urgency"]["level"] == "emergency" and r["danger"]["level"] == "passive"
    assert r["referrals"][0]["target"] == "mental_health"
    assert "police" not in [ref["target"] for ref in r["referrals"]]
    assert "直接询问" in r["urgency"]["reasons"][0]["detail"] or "自杀" in r["urgency"]["reasons"][0]["detail"]


def test_greetings_do_not_get_a_confident_labour_type(triager) -> None:
    for text in ("你好在吗", "谢谢你们", "😊😊"):
        r = analyse(triager, text)
        assert r["abstain"] or r["labels"] == ["out_of_scope"], (text, r["labels"])
        assert r["urgency"]["level"] in ("low", "normal")


def test_deadlines_from_the_accident_date(triager) -> None:
    r = analyse(triager, "我是美团骑手，上个月15号送餐路上摔断了腿，现在还在家养伤", "2026-11-29T10:00")
    ids = {d["id"]: d for d in r["deadlines"]}
    assert "injury" in r["labels"]
    assert ids["injury_recognition_worker"]["due"] == "2027-10-15"
    assert ids["occupational_injury_pilot_report"]["unverified"] is True


def test_jsonl_batch_keeps_going_past_bad_lines(env, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_bytes(
        b'{"id": "a", "text": "\xe5\x8e\x8b\xe9\x87\x91\xe4\xb8\x8d\xe9\x80\x80"}\n'  # 押金不退
        b'{"id": "b", "text": ""}\n'
        b'not json\n'
        b'{"id": "d", "text": "\xff\xfe"}\n'
        b'{"id": "e", "text": "\xe5\xb0\x81\xe5\x8f\xb7\xe4\xba\x86"}\n'  # 封号了
    )
    out = run_cli("triage", "--jsonl", str(f), env=env)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", 3, 4, "e"]
    assert "labels" in rows[0] and "labels" in rows[4]
    assert rows[1]["error"]["code"] == "empty" and rows[2]["error"]["code"] == "bad_line"


@pytest.mark.parametrize(("arg", "needle"), [("", "text is empty"), ("x" * 5001, "too long"), ("a\x07b", "control")])
def test_bad_input_is_one_clean_line(env, arg, needle) -> None:
    out = run_cli("triage", arg, env=env)
    assert out.returncode == 1 and needle in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_tampered_or_mismatched_model_is_refused(model_dir: Path, tmp_path: Path) -> None:
    root = triage_root(model_dir)
    version = artifact.current_version(root)
    copy = tmp_path / "triage"
    shutil.copytree(root / version, copy / version)
    artifact.set_current(copy, version)
    manifest = json.loads((copy / version / "manifest.json").read_text())
    (copy / version / "manifest.json").write_text(json.dumps(manifest | {"labels": manifest["labels"][:-1]}))
    with pytest.raises(ArtifactError, match="label set"):
        artifact.load(copy)
    (copy / version / "manifest.json").write_text(json.dumps(manifest))
    with open(copy / version / "model.joblib", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        artifact.load(copy)
    if manifest.get("embedding_id"):  # a model trained on embeddings refuses another embedding model
        with pytest.raises(ArtifactError, match="different embedding model"):
            artifact.load(root, embedding_id="st:some/other-model")


def test_the_response_form_of_a_result_is_what_asdict_gave(triager) -> None:  # type: ignore[no-untyped-def]
    from tests.test_plain import _reference

    result = triager.analyse("上个月3号送单被车撞了，站长不给报工伤，押金800也不退，我电话13812345678")
    ref = _reference(result)
    ref.pop("timings_ms"), ref.pop("text_normalised")
    ref["entities"]["injury_severity"] = result.entities.injury_severity
    d = result.to_dict()
    assert d == ref and list(d) == list(ref) and d["entities"]["dates"] and d["entities"]["money"]
