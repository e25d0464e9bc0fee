"""The answer decision's thresholds (models/answer_training.choose_thresholds), on made-up scores."""

import numpy as np

from models.answer_training import choose_thresholds


def _scores(seed: int, n: int, wrong_above: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n)
    right = rng.uniform(0, 1, n) < np.where(p > wrong_above, 0.99, 0.6)
    return p, right


def test_confident_keeps_wrong_answers_under_the_bound_and_likely_below_it() -> None:
    p, right = _scores(0, 2000, 0.5)
    answerable = np.ones_like(right)
    confident, likely, report = choose_thresholds(p, right, answerable, 0.02, 0.01)
    assert likely < confident
    assert 1 - right[p >= confident].mean() <= 0.02 and report["confident_wrong_share"] <= 0.02


def test_the_strict_subset_can_only_raise_the_confident_threshold() -> None:
    p, right = _scores(1, 2000, 0.5)
    answerable = np.ones_like(right)
    strict = np.zeros_like(right)
    strict[:500] = True
    # The strict queries are wrong more often at the same scores (people who never saw the entries' words).
    right[:500] &= np.random.default_rng(2).uniform(0, 1, 500) < np.where(p[:500] > 0.8, 1.0, 0.7)
    base, _, _ = choose_thresholds(p, right, answerable, 0.02, 0.01)
    strict_t, _, report = choose_thresholds(p, right, answerable, 0.02, 0.01, strict=strict)
    assert strict_t >= base
    assert 1 - right[strict & (p >= strict_t)].mean() <= 0.02
    assert report["strict_confident_wrong_share"] <= 0.02
    assert choose_thresholds(p, right, answerable, 0.02, 0.01, strict=np.zeros_like(right))[0] == base


def test_likely_is_raised_until_few_off_topic_queries_get_a_hedge() -> None:
    rng = np.random.default_rng(3)
    p_on = rng.uniform(0.05, 1.0, 1000)
    right = np.concatenate([rng.uniform(0, 1, 1000) < 0.8, np.zeros(400, dtype=bool)])
    p = np.concatenate([p_on, rng.uniform(0.0, 0.5, 400)])  # off-topic scores overlap the answerable ones
    answerable = np.concatenate([np.ones(1000, dtype=bool), np.zeros(400, dtype=bool)])
    _, loose, _ = choose_thresholds(p, right, answerable, 0.02, 0.01, max_off_topic_likely=1.0)
    _, likely, report = choose_thresholds(p, right, answerable, 0.02, 0.01, max_off_topic_likely=0.15)
    assert likely > loose
    assert (p[~answerable] >= likely).mean() <= 0.15 and report["off_topic_likely_or_better"] <= 0.15
