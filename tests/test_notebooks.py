"""The notebooks in notebooks/ execute top to bottom (nbclient, a real kernel) and write their PNGs.

They run on what `make models` built: the triage model, the seeded knowledge base and its index in
data/. The case-trends notebook needs none of it (it simulates its own case history).
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import REPO, SHARED

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = REPO / "notebooks"
OUT = NOTEBOOKS / "output"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _needs_built_data() -> None:
    if not (REPO / "models" / "artifacts" / "triage" / "CURRENT").exists():
        pytest.skip("no built triage model: run `make models`")
    if not (REPO / "data" / "index" / "entries").exists():
        pytest.skip("no seeded knowledge base index in data/: run `make models`")


pytestmark = pytest.mark.notebook


@pytest.mark.parametrize(
    ("name", "pngs", "needs_models"),
    [
        pytest.param("triage_evaluation.ipynb",
                     ["triage_confusion.png", "triage_per_type_f1.png", "triage_reliability.png"], True,
                     marks=pytest.mark.model),
        pytest.param("retrieval_evaluation.ipynb", ["retrieval_hit_at_k.png", "retrieval_answer_decision.png"], True,
                     marks=pytest.mark.model),
        pytest.param("case_trends.ipynb", ["case_counts_by_type.png", "referral_outcomes.png"], False),
    ],
)
def test_notebook_executes_and_writes_its_plots(name: str, pngs: list[str], needs_models: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if needs_models:
        _needs_built_data()
    # The kernel inherits this environment: the repo's built models and demo data, whatever the caller set.
    monkeypatch.setenv("JISHIBANG_DATA_DIR", str(REPO / "data"))
    monkeypatch.setenv("JISHIBANG_MODEL_DIR", str(REPO / "models" / "artifacts"))
    monkeypatch.setenv("JISHIBANG_SHARED_DIR", str(SHARED))
    monkeypatch.delenv("JISHIBANG_DATABASE_URL", raising=False)
    monkeypatch.delenv("JISHIBANG_EMBEDDING_MODEL", raising=False)
    for png in pngs:
        (OUT / png).unlink(missing_ok=True)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    t0 = time.perf_counter()
    # Raises CellExecutionError (with the traceback) when any cell fails.
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    print(f"{name}: executed in {time.perf_counter() - t0:.1f} s")
    for png in pngs:
        data = (OUT / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, png
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    inline = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(inline) >= len(pngs), "every plot is shown inline too"
    if name == "case_trends.ipynb":
        printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
        assert "simulated" in printed.lower() and "not real hotline data" in printed
