"""Start the real service (uvicorn, real HTTP) and check it is healthy and ready."""

import httpx
import pytest

pytestmark = [pytest.mark.model, pytest.mark.integration]


def test_service_starts_healthy_and_ready(live_server) -> None:
    health = httpx.get(f"{live_server.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = httpx.get(f"{live_server.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "embedding_model": "ok", "triage_model": "ok", "search_index": "ok",
                              "ranking_model": "ok", "data_dir": "ok"}


def test_readyz_reports_a_missing_model(tmp_path, monkeypatch) -> None:
    # In-process app with a model path that does not exist: liveness stays up, readiness says why.
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    settings = Settings(data_dir=tmp_path / "d", embedding_model=str(tmp_path / "no-model"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["embedding_model"].startswith("error:")


def test_without_a_triage_model_readyz_is_503_and_suggest_says_why(tmp_path, local_model_dir) -> None:
    """A model dir with the embedding model but no triage model: /readyz names it (503) and /v1/suggest answers
    503 with the reason in both languages (it answered 500 before)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from tests.conftest import copy_cached_vectors

    models = tmp_path / "models"
    models.mkdir()
    (models / local_model_dir.name).symlink_to(local_model_dir)
    onnx = local_model_dir.parent / (local_model_dir.name + "-onnx")
    if onnx.exists():
        (models / onnx.name).symlink_to(onnx)
    copy_cached_vectors(tmp_path / "d" / "index" / "entries")
    settings = Settings(data_dir=tmp_path / "d", model_dir=models)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["triage_model"].startswith("error: no triage model")
        assert ready.json()["checks"]["ranking_model"].startswith("error:")
        token = _login(client, settings)
        r = client.post("/v1/suggest", json={"text": "站长不退押金"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert err["code"] == "not_ready" and "服务尚未就绪" in err["message_zh"] and "not ready" in err["message"]
        assert r.headers.get("retry-after") == "30"


def _login(client, settings) -> str:  # type: ignore[no-untyped-def]
    from api.context import open_runtime

    rt = open_runtime(settings, migrate_db=False)
    rt.accounts.add_user("op-wiring", "operator", "a-long-test-password-1")
    r = client.post("/v1/auth/login", json={"name": "op-wiring", "password": "a-long-test-password-1"})
    assert r.status_code == 200, r.text
    return r.json()["token"]
