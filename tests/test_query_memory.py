"""The answered-question memory: the reranker's mem_* features, leaving a question out, and saving it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.memory import MEMORY_FEATURES, NO_MEMORY, QueryMemory
from kb.ranking import Linear, ModeModel, RankingModel, Reranker
from kb.search import RERANK_FEATURES


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture()
def memory() -> QueryMemory:
    texts = ["押金不退", "站长扣押金", "被车撞了", "保安不让进"]
    vectors = np.vstack([unit(1, 0.1, 0), unit(1, 0.3, 0), unit(0, 1, 0), unit(0, 0, 1)])
    slugs = [["deposit-shop"], ["deposit-station", "deposit-shop"], ["traffic"], ["compound"]]
    return QueryMemory.of(texts, vectors, slugs)


def test_the_nearest_answered_questions_vote_for_their_entries(memory: QueryMemory) -> None:
    rows = memory.features(unit(1, 0.2, 0), ["deposit-shop", "deposit-station", "traffic", "unknown"])
    named = [dict(zip(MEMORY_FEATURES, r)) for r in rows]
    shop, station, traffic, unknown = named
    assert shop["mem_cos"] == pytest.approx(max(station["mem_cos"], shop["mem_cos"]))
    assert shop["mem_vote"] > station["mem_vote"] > traffic["mem_vote"] >= 0.0
    assert shop["mem_gap"] == pytest.approx(0.0) and traffic["mem_gap"] < 0
    assert unknown == dict(zip(MEMORY_FEATURES, [0.0, -1.0, 0.0, shop["mem_nearest"]]))


def test_a_question_left_out_does_not_vote_for_itself(memory: QueryMemory) -> None:
    q = memory.vectors[2]  # exactly the traffic question
    with_it = dict(zip(MEMORY_FEATURES, memory.features(q, ["traffic"])[0]))
    without = dict(zip(MEMORY_FEATURES, memory.features(q, ["traffic"], exclude_text="被车撞了")[0]))
    assert with_it["mem_cos"] == pytest.approx(1.0, abs=1e-3)
    assert without["mem_cos"] == 0.0 and without["mem_vote"] == 0.0


def test_an_entrys_own_questions_speak_for_it_when_no_remembered_question_does(memory: QueryMemory) -> None:
    """A new entry (published after fitting) has no calibration question: its own questions, as the dense search
    retrieved them, are remembered questions too, so its exact question makes it the entry the memory votes for."""
    q = unit(0.1, 0.1, 1)
    alone = dict(zip(MEMORY_FEATURES, memory.features(q, ["new-entry"])[0]))
    assert alone["mem_gap"] == -1.0 and alone["mem_vote"] == 0.0
    own = (np.array([1.0, 0.6], dtype=np.float32), ["new-entry", "new-entry"])
    named = [dict(zip(MEMORY_FEATURES, r)) for r in memory.features(q, ["new-entry", "compound"], own=own)]
    assert named[0]["mem_cos"] == pytest.approx(1.0) and named[0]["mem_gap"] == pytest.approx(0.0)
    assert named[0]["mem_vote"] > named[1]["mem_vote"] > 0.0 and named[0]["mem_nearest"] == pytest.approx(1.0)
    # With nothing fitted at all, the entries' own questions are the memory.
    empty = QueryMemory.of([], np.zeros((0, 3), dtype=np.float32), [])
    assert empty.features(q, ["new-entry"], own=own)[0][:3] == pytest.approx([1.0, 0.0, 1.6 / 1.6])


def test_without_an_entry_is_the_memory_as_if_it_were_published_after_fitting(memory: QueryMemory) -> None:
    gone = memory.without("deposit-shop")
    assert gone.slugs == [("deposit-station",), ("traffic",), ("compound",)] and len(gone.vectors) == 3
    assert "站长扣押金" in gone.texts and "押金不退" not in gone.texts
    assert dict(zip(MEMORY_FEATURES, gone.features(unit(1, 0.1, 0), ["deposit-shop"])[0]))["mem_gap"] == -1.0
    assert len(memory) == 4  # the fitted memory itself is untouched


def test_questions_nothing_answers_are_not_kept() -> None:
    m = QueryMemory.of(["你好", "押金"], np.vstack([unit(1, 0), unit(0, 1)]), [[], ["deposit"]])
    assert len(m) == 1 and m.slugs == [("deposit",)]


def test_saved_with_the_ranking_model_and_read_back_identically(memory: QueryMemory, tmp_path: Path) -> None:
    width = len(RERANK_FEATURES)
    # A one-leaf reranker and a zero decision: only the memory's round trip is under test here.
    tree = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=%d\n" % (width - 1)
    tree += "objective=lambdarank\nfeature_names=%s\ntree_sizes=0\n\nTree=0\nnum_leaves=1\nnum_cat=0\nsplit_feature=\n" \
            "split_gain=\nthreshold=\ndecision_type=\nleft_child=\nright_child=\nleaf_value=0\nleaf_weight=\n" \
            "leaf_count=\ninternal_value=\ninternal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\n" \
            "end of trees\n" % " ".join(RERANK_FEATURES)
    decide = Linear(("p1",), np.zeros(1), np.ones(1), np.zeros(1), 0.0)
    model = RankingModel({"hybrid": ModeModel(Reranker(tree, 1.0, 0.0, RERANK_FEATURES), decide, 0.9, 0.3)},
                         {"model_id": "x"}, memory=memory)
    model.save(tmp_path / "ranking.json")
    back = RankingModel.load(tmp_path / "ranking.json")
    assert back is not None and back.memory is not None and back.memory.slugs == memory.slugs
    q = unit(0.9, 0.2, 0.1)
    assert np.allclose(back.memory.features(q, ["deposit-shop", "compound"]), memory.features(q, ["deposit-shop", "compound"]))
    assert not back.memory.texts  # the questions' words stay in the repository, not in the model


def test_the_feature_vector_names_every_memory_feature() -> None:
    assert RERANK_FEATURES[-len(MEMORY_FEATURES):] == MEMORY_FEATURES and len(NO_MEMORY) == len(MEMORY_FEATURES)


def test_no_calibration_question_is_an_evaluation_or_blind_text() -> None:
    """What the ranking model fits on and remembers is never what it is judged on (after the query path's own
    normalisation: 工會律師 and 工会律师 are one question)."""
    import json
    from importlib import resources

    from kb.query import prepare_query
    from models.answer_eval import blind_sets, load_blind
    from models.retired_sets import near_copies, retired_answer_rows
    from models.search_eval import load_queries

    folder = resources.files("kb").joinpath("calibration")
    calibration = {prepare_query(json.loads(line)["query"]).text
                   for p in folder.iterdir() if p.name.endswith(".jsonl")
                   for line in p.read_text(encoding="utf-8").splitlines() if line.strip()}
    # The retired blind sets are calibration too (models/retired_sets.py), their near copies left out.
    calibration |= {prepare_query(r["text"]).text for _, r in retired_answer_rows()}
    judged = {prepare_query(q["query"]).text for q in load_queries()}
    judged |= {prepare_query(r["text"]).text for name in blind_sets() for r in load_blind(name)}
    assert not calibration & judged
    # Nor a near copy (difflib ratio > 0.75, the rule each file was added under): 小區保安不讓外賣員進 is 小区保安不让进.
    assert not near_copies(calibration, judged)
