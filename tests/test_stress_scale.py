"""The stress suites' size knob (tests/stress_scale.py), set by .ci/run when CI is short of time."""

from __future__ import annotations

import pytest

from tests.stress_scale import scaled, stress_scale


def test_unset_runs_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JISHIBANG_STRESS_SCALE", raising=False)
    assert stress_scale() == 1.0 and scaled(100, floor=10) == 100 and scaled(1000, floor=100) == 1000


def test_a_scale_shrinks_the_counts_down_to_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JISHIBANG_STRESS_SCALE", "0.46")
    assert scaled(100, floor=10) == 46 and scaled(1000, floor=100) == 460
    monkeypatch.setenv("JISHIBANG_STRESS_SCALE", "0.1")
    assert scaled(100, floor=20) == 20  # never below the floor


@pytest.mark.parametrize("raw", ["0", "-0.5", "1.5", "abc"])
def test_a_scale_outside_0_to_1_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("JISHIBANG_STRESS_SCALE", raw)
    with pytest.raises(ValueError):
        stress_scale()
