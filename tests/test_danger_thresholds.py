"""The danger detector's two operating points (models/train_danger.py), on made-up scores."""

import numpy as np
import pytest

from models.train_danger import CHECK_MARGIN, CHECK_RATE_CAP, _thresholds, check_thresholds


def _scores(seed: int, n_pos: int, n_neg: int, pos_low: float, neg_high: float, cue_every: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Made-up detector scores: emergencies in [pos_low, 1], the rest in [0, neg_high]; every ``cue_every``-th
    message has a cue word."""
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(pos_low, 1.0, n_pos), rng.uniform(0.0, neg_high, n_neg)])
    y = np.array([True] * n_pos + [False] * n_neg)
    cue = np.zeros(n_pos + n_neg, dtype=bool)
    cue[::cue_every] = True
    return p, y, cue


def test_check_point_reaches_every_emergency_and_the_danger_point_its_share() -> None:
    p, y, cue = _scores(0, 200, 800, 0.2, 0.6, 3)
    plain, with_cue, fa_all = _thresholds(p, y, cue, 1.0)
    assert plain == p[y & ~cue].min() and with_cue == p[y & cue].min()
    flagged = p >= np.where(cue, with_cue, plain)
    assert flagged[y].all() and fa_all == flagged[~y].mean()
    plain98, cue98, fa98 = _thresholds(p, y, cue, 0.98)
    flagged98 = p >= np.where(cue, cue98, plain98)
    assert flagged98[y].mean() >= 0.98 and plain98 >= plain and cue98 >= with_cue
    assert fa98 <= fa_all  # a stricter flag never raises more false alarms
    for k in range(int(y[~cue].sum()) + 1):  # no other split of the misses between the groups does better
        tp = np.sort(p[y & ~cue])[::-1][k - 1] if k else 1.01
        rest = int(np.ceil(0.98 * 200)) - k
        pos_cue = np.sort(p[y & cue])[::-1]
        if 0 <= rest <= len(pos_cue):
            tc = pos_cue[rest - 1] if rest else 1.01
            assert (p >= np.where(cue, tc, tp))[~y].mean() >= fa98 - 1e-12


def test_a_group_without_emergencies_falls_back() -> None:
    p = np.array([0.9, 0.1, 0.8])
    y = np.array([True, False, False])
    cue = np.array([False, False, True])
    plain, with_cue, _ = _thresholds(p, y, cue, 1.0)
    assert plain == 0.9 and with_cue == plain  # no emergency with a cue: the plain threshold serves both
    assert min(_thresholds(p, np.zeros(3, dtype=bool), cue, 1.0)[:2]) > 1.0  # no emergencies: never flags


def test_the_check_band_reaches_below_the_lowest_emergency() -> None:
    p, y, cue = _scores(1, 100, 400, 0.1, 0.5, 4)
    plain, with_cue, rate = check_thresholds(p, y, cue, cap=1.0)
    assert 0 < CHECK_MARGIN < 1
    assert plain == CHECK_MARGIN * p[y & ~cue].min() and with_cue == CHECK_MARGIN * p[y & cue].min()
    assert rate == (p >= np.where(cue, with_cue, plain))[~y].mean()
    assert rate >= _thresholds(p, y, cue, 1.0)[2]  # a lower band checks at least as many


def test_one_outlying_emergency_cannot_sink_the_check_band_below_its_cap() -> None:
    p, y, cue = _scores(2, 300, 1200, 0.4, 0.25, 4)
    plain, with_cue, rate = check_thresholds(p, y, cue)
    assert rate <= CHECK_RATE_CAP  # the margin below the lowest emergency fits under the cap here
    assert plain == CHECK_MARGIN * p[y & ~cue].min() and with_cue == CHECK_MARGIN * p[y & cue].min()
    p[1] = 0.001  # one plain emergency scored like the everyday messages (every 4th has a cue: index 1 has none)
    uncapped = check_thresholds(p, y, cue, cap=1.0)
    assert uncapped[0] == CHECK_MARGIN * 0.001 and uncapped[2] > CHECK_RATE_CAP
    plain2, with_cue2, rate2 = check_thresholds(p, y, cue)
    assert rate2 <= CHECK_RATE_CAP
    reached = p[y] >= np.where(cue[y], with_cue2, plain2)
    assert not reached[1] and reached.sum() == y.sum() - 1  # only the outlier is given up
    assert (plain2, with_cue2) == (plain, with_cue)  # and the band is where it was without it


def test_neighbour_scores_average_the_nearest_of_each_side() -> None:
    from triage.danger import neighbour_scores

    sims = np.array([[0.9, 0.8, 0.1, 0.5, 0.4, 0.3]])
    emergency = np.array([True, True, True, False, False, False])
    top_pos, top_neg, diff = neighbour_scores(sims, emergency, k=2)[0]
    assert top_pos == pytest.approx(0.85) and top_neg == pytest.approx(0.45) and diff == pytest.approx(0.40)
    # k larger than a side: the whole side; a side with nothing in it gives no signal at all
    assert neighbour_scores(sims, emergency, k=10)[0][0] == pytest.approx(0.6)
    assert not neighbour_scores(sims, np.zeros(6, dtype=bool), k=2).any()


def test_a_training_message_never_finds_itself_in_the_memory() -> None:
    from triage.danger import NeighbourMemory, unit_rows

    rng = np.random.default_rng(3)
    V = unit_rows(rng.normal(size=(40, 16)))
    y = np.arange(40) < 10
    memory = NeighbourMemory(V, y, k=1, weight=1.0)
    alone = memory.features(V)  # as a new message: each one's nearest is itself (similarity 1)
    loo = memory.features(V, exclude_self=True)
    assert np.allclose(np.where(y, alone[:, 0], alone[:, 1]), 1.0)
    assert (np.where(y, loo[:, 0], loo[:, 1]) < 1.0 - 1e-6).all()
    assert np.allclose(NeighbourMemory(V, y, k=1, weight=3.0).features(V), 3 * alone)


def test_the_memory_is_kept_column_major_and_scores_as_the_row_major_product() -> None:
    """Stored column-major for speed (vectors.T contiguous); a memory unpickled from an older file in row-major
    order is converted on first use; the features are the same numbers either way."""
    import pickle

    from triage.danger import NeighbourMemory, neighbour_scores, unit_rows

    rng = np.random.default_rng(5)
    V = unit_rows(rng.normal(size=(60, 16)))
    y = np.arange(60) % 4 == 0
    q = unit_rows(rng.normal(size=(3, 16)))
    memory = NeighbourMemory(V, y, k=3, weight=3.0)
    assert memory.vectors.flags.f_contiguous
    expected = 3.0 * neighbour_scores(q @ np.ascontiguousarray(V).T, y, 3)
    assert np.allclose(memory.features(q), expected, atol=1e-6)
    old = pickle.loads(pickle.dumps(memory))
    old.vectors = np.ascontiguousarray(old.vectors)  # as an older model file held it
    assert np.allclose(old.features(q), expected, atol=1e-6) and old.vectors.flags.f_contiguous


def test_the_detector_reads_its_neighbours_from_the_encoders_own_vectors() -> None:
    """Not the centred sentence vectors the classifiers read: the encoder's, unit length, for the normalised text."""
    from scipy import sparse

    from triage.classifier import danger_matrix, neighbour_features
    from triage.danger import NeighbourMemory, unit_rows
    from triage.errors import ArtifactError
    from triage.serving_form import EmbeddingPart, ServingFeatures

    rng = np.random.default_rng(5)
    raw = {t: rng.normal(size=8) + 3.0 for t in ("甲", "乙", "丙")}  # a shared offset: centring would change them
    seen: list[list[str]] = []

    def encoder(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return np.stack([raw[t] for t in texts])

    features = ServingFeatures([("embed", EmbeddingPart(np.full(8, 3.0), 1.0, encoder))])
    memory = NeighbourMemory(unit_rows(rng.normal(size=(20, 8)) + 3.0), np.arange(20) < 5, k=2, weight=3.0)
    extra = neighbour_features(memory, features, ["甲", "乙", "丙"])
    assert seen == [["甲", "乙", "丙"]]
    assert np.allclose(extra, memory.features(unit_rows(np.stack(list(raw.values())))), atol=1e-6)
    X = sparse.random(3, 50, density=0.2, random_state=5, format="csr")
    assert danger_matrix(X, np.ones((3, 4)), 1.0, extra).shape == (3, 50 + 4 + 3)
    assert neighbour_features(None, features, ["甲"]) is None and danger_matrix(X, np.ones((3, 4)), 1.0).shape == (3, 54)
    with pytest.raises(ArtifactError):
        neighbour_features(memory, ServingFeatures([("embed", EmbeddingPart(np.zeros(8), 1.0))]), ["甲"])


def test_the_served_variant_is_the_best_f1_and_near_ties_go_to_fewer_false_emergencies() -> None:
    from models.train_triage import F1_TIE, Candidate, choose

    def cand(variant: str, f1: float) -> Candidate:
        return Candidate(variant, 1.0, None, f1)  # type: ignore[arg-type]

    tfidf, combined = cand("tfidf", 0.8548), cand("combined", 0.8548 - F1_TIE / 2)
    assert choose([(tfidf, 0.066), (combined, 0.041)]) is combined  # a near tie: the safer detector
    assert choose([(tfidf, 0.041), (combined, 0.066)]) is tfidf
    clear = cand("combined", 0.8548 - 2 * F1_TIE)
    assert choose([(tfidf, 0.066), (clear, 0.010)]) is tfidf  # a real F1 difference is not given away
    with pytest.raises(ValueError):
        choose([])
