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
