"""The knowledge-base commands as a user runs them: seed, reindex, search, export, import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import copy_cached_vectors, run_cli

pytestmark = [pytest.mark.model, pytest.mark.integration]


@pytest.fixture(scope="module")
def kb_env(local_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("clikb") / "data"
    copy_cached_vectors(data / "index" / "entries")
    env = {"JISHIBANG_DATA_DIR": str(data), "JISHIBANG_MODEL_DIR": str(local_model_dir.parent)}
    seeded = run_cli("kb", "seed", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["entries_created"] >= 150
    built = run_cli("kb", "reindex", env=env, timeout=900)
    assert built.returncode == 0, built.stderr
    return env


def test_reindex_reports_a_manifest(kb_env) -> None:
    out = run_cli("kb", "reindex", "--if-stale", env=kb_env)
    manifest = json.loads(out.stdout)
    assert manifest["entries"] >= 150 and manifest["model_id"].startswith("e5-local:")


def test_search_json(kb_env) -> None:
    out = run_cli("search", "站长收了我的押金，辞职后不退", "--json", env=kb_env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result) >= {"abstain", "hits"}
    hit = result["hits"][0]
    assert set(hit) >= {"entry_id", "slug", "kind", "title", "issue_types", "status", "score", "retrievers"}
    assert hit["status"] == "published" and "deposit_refund" in hit["issue_types"]


def test_search_jsonl_one_line_per_input(kb_env, tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": 1, "text": "小区保安不让骑手进"}\n{"id": 2, "text": ""}\n{"id": 3, "text": "怎么加入工会"}\n',
                 encoding="utf-8")
    out = run_cli("search", "--jsonl", str(f), env=kb_env)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert "error" in rows[1] and rows[0]["hits"] and rows[2]["hits"]


def test_export_import_and_bad_rows(kb_env, tmp_path: Path) -> None:
    exported = run_cli("kb", "export", "--format", "csv", env=kb_env)
    assert exported.returncode == 0 and exported.stdout.startswith("slug,status,kind")
    (tmp_path / "all.csv").write_text(exported.stdout, encoding="utf-8")
    again = run_cli("kb", "import", str(tmp_path / "all.csv"), env=kb_env)
    assert json.loads(again.stdout)["created"] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"slug": "x-y", "kind": "faq"}\nnot json\n', encoding="utf-8")
    out = run_cli("kb", "import", str(bad), env=kb_env)
    assert out.returncode == 1 and "line 1" in out.stderr and "line 2" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
