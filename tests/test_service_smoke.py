"""Start the real service (uvicorn, real HTTP) and check it is healthy and ready."""

import httpx
import pytest

pytestmark = pytest.mark.model


def test_service_starts_healthy_and_ready(live_server) -> None:
    health = httpx.get(f"{live_server.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = httpx.get(f"{live_server.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"embedding_model": "ok", "search_index": "ok", "data_dir": "ok"}


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
