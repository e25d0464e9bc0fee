"""The real-consultation false-alarm figure of `jishibang eval urgency` counts what the detector says, no more."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from models.urgency_eval import consultation_alarms
from triage.danger import Danger, DangerReason


class ScriptedTriager:
    """Says danger for the texts it was told to, in batches like the real one."""

    def __init__(self, verdicts: dict[str, Danger]) -> None:
        self.verdicts, self.batches = verdicts, 0

    def analyse_many(self, texts: list[str]) -> list[SimpleNamespace]:
        self.batches += 1
        return [SimpleNamespace(danger=self.verdicts.get(t, Danger("none", None, 0.01))) for t in texts]


def test_consultation_alarms_counts_flags_checks_and_flags_without_a_cue(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "lawbench_consultation_3-8"
    folder.mkdir(parents=True)
    texts = [f"请问离婚后孩子抚养费怎么算{i}" for i in range(70)]
    folder.joinpath("consultation_qa.jsonl").write_text(
        "".join(json.dumps({"id": i, "question": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)), "utf-8")
    triager = ScriptedTriager({
        texts[0]: Danger("passive", "self_harm_passive", 0.7),
        texts[1]: Danger("now", "violence_now", 0.9, (DangerReason("violence", "暴力"),)),
        texts[2]: Danger("none", None, 0.2, check=True, check_kind="acute_injury"),
    })
    report = consultation_alarms(triager, tmp_path)
    assert report is not None and triager.batches == 2
    assert (report["consultations"], report["flagged"], report["checked"]) == (70, 2, 1)
    assert report["flagged_without_a_cue_word"] == 1 and report["false_alarm_rate"] == round(2 / 70, 4)
    assert [e["kind"] for e in report["flagged_examples"]] == ["self_harm_passive", "violence_now"]
    assert consultation_alarms(triager, tmp_path / "elsewhere") is None


def test_the_read_sets_figure_pools_every_retired_answer_set_and_drops_the_misses_list() -> None:
    from models.retired_sets import RETIRED_ANSWER_SETS, retired_answer_rows
    from models.urgency_eval import read_sets_figures

    class Fixed:
        """Every message: urgency normal, first door labour inspection."""

        def analyse_many(self, texts: list[str]) -> list[SimpleNamespace]:
            return [SimpleNamespace(urgency=SimpleNamespace(level="normal"), danger=Danger("none", None, 0.0),
                                    referrals=[SimpleNamespace(target="labor_inspection")]) for _ in texts]

    rows = [r for _, r in retired_answer_rows() if r["kind"] in ("question", "call_note")]
    report = read_sets_figures(Fixed())
    assert report["sets"] == list(RETIRED_ANSWER_SETS) and report["messages"] == len(rows) > 3000
    with_ref = [r for r in rows if r.get("referrals")]
    expected = sum("labor_inspection" in r["referrals"] for r in with_ref) / len(with_ref)
    assert report["first_referral_acceptable"] == round(expected, 4)
    assert report["urgency_accuracy"] == round(sum(r["urgency"] == "normal" for r in rows) / len(rows), 4)
    assert "first_referral_misses" not in report
