from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings


def test_defaults_point_at_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("JISHIBANG_DATA_DIR", "JISHIBANG_DATABASE_URL", "JISHIBANG_MODEL_DIR", "JISHIBANG_EMBEDDING_MODEL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.data_dir == Path("data")
    assert s.sqlalchemy_url.startswith("sqlite:///") and s.sqlalchemy_url.endswith("data/jishibang.db")
    assert s.embedding_model_path == str(Path("models/artifacts") / "multilingual-e5-small")


def test_environment_overrides_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JISHIBANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JISHIBANG_DATABASE_URL", "postgresql+psycopg://127.0.0.1/test")
    monkeypatch.setenv("JISHIBANG_EMBEDDING_MODEL", "BAAI/bge-small-zh-v1.5")
    monkeypatch.setenv("JISHIBANG_LOG_LEVEL", "debug")
    s = Settings()
    assert s.data_dir == tmp_path
    assert s.sqlalchemy_url == "postgresql+psycopg://127.0.0.1/test"
    assert s.embedding_model_path == "BAAI/bge-small-zh-v1.5"
    assert s.log_level == "DEBUG"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JISHIBANG_PORT", "70000")
    with pytest.raises(ValidationError, match="port"):
        Settings()
    monkeypatch.delenv("JISHIBANG_PORT")
    monkeypatch.setenv("JISHIBANG_LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError, match="log_level"):
        Settings()


def test_only_settings_module_reads_the_environment() -> None:
    repo = Path(__file__).resolve().parents[1]
    offenders = []
    for pkg in ("triage", "kb", "models", "api", "hotline"):
        for path in (repo / pkg).rglob("*.py"):
            if path.name == "settings.py" and pkg == "api":
                continue
            text = path.read_text(encoding="utf-8")
            if "os.environ" in text or "os.getenv" in text:
                offenders.append(str(path.relative_to(repo)))
    assert offenders == []


def test_every_setting_is_documented() -> None:
    """docs/configuration.md names every JISHIBANG_ variable the settings object reads."""
    from api.settings import Settings

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [f"JISHIBANG_{name.upper()}" for name in Settings.model_fields if f"JISHIBANG_{name.upper()}" not in doc]
    assert not missing, f"add to docs/configuration.md: {missing}"


def test_a_serving_process_keeps_one_blas_thread() -> None:
    """Spinning BLAS threads took the cores from the encoder and the other workers (triage/process_threads.py)."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import json, numpy; from triage.process_threads import limit_blas_threads; "
            "from threadpoolctl import threadpool_info; limit_blas_threads(); "
            "print(json.dumps([p['num_threads'] for p in threadpool_info()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    pools = json.loads(out.stdout)
    assert pools and all(n == 1 for n in pools)
