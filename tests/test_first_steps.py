"""What to do right now leads the suggestions in a danger (hotline/data/first_steps.yaml): the file names only
seeded entries on danger, one kind at a time, and the assistant asks the search for them only for danger now."""

from __future__ import annotations

import json

from hotline.assist import SUPPORT_FIRST, SUPPORT_NEED, first_steps, safety_need
from kb.seeding import seed_text
from triage.danger import KINDS, Danger


def test_every_first_step_is_a_seeded_entry_about_danger() -> None:
    seeded = {row["slug"]: row for row in map(json.loads, seed_text().splitlines()) if row}
    steps = first_steps()
    assert steps and set(steps) <= set(KINDS)
    for kind, slugs in steps.items():
        assert slugs and len(set(slugs)) == len(slugs), kind
        # Self-harm kinds lead with a crisis entry, the others with an entry on injury or safety.
        topics = {"mental_crisis"} if kind in SUPPORT_FIRST else {"injury", "safety_conflict", "traffic_accident"}
        for slug in slugs:
            assert slug in seeded, f"{kind}: {slug} is not a seeded entry"
            assert topics & set(seeded[slug]["issue_types"]), slug


def test_the_need_follows_the_level_and_kind_of_danger() -> None:
    assert safety_need(Danger("none", None, 0.1)) is None
    # Passive ideation: the entries that ask directly about suicide and give 12356, not stress counselling.
    need = safety_need(Danger("passive", "self_harm_passive", 0.9))
    assert need is not None and need.startswith("slug:k3-mental-imminent-danger") and "stress" not in need
    # Locked in: what to do when confined comes first.
    assert safety_need(Danger("now", "confinement", 0.9)).startswith("slug:k9-confined-by-landlord-station-agency")
    # Suicidal thoughts with a plan or a goodbye: what the operator does on the spot comes first.
    need = safety_need(Danger("now", "self_harm_active", 0.9))
    assert need is not None and need.startswith("slug:k3-mental-imminent-danger")
    assert safety_need(Danger("now", "child_at_risk", 0.9)) == SUPPORT_NEED
    need = safety_need(Danger("now", "acute_injury", 0.9))
    assert need == "slug:" + ",".join(first_steps()["acute_injury"]) and "k3-traffic-scene-steps" in need
    # Only danger now: the same kind in the safety-check band pins nothing.
    assert safety_need(Danger("none", None, 0.4, check=True, check_kind="acute_injury")) is None
    # A kind without entries keeps the search's order.
    assert "other_danger" not in first_steps() and safety_need(Danger("now", "other_danger", 0.9)) is None
