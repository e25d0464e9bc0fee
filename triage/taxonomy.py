"""The label space (ids from ../shared/spec/taxonomy.md, kept in ``triage/data/taxonomy.yaml``)."""

from __future__ import annotations

from triage.lexicon import load_yaml


def issue_types() -> list[str]:
    return list(load_yaml("taxonomy.yaml")["issue_types"])


def issue_type_names() -> dict[str, str]:
    return dict(load_yaml("taxonomy.yaml")["issue_types"])


def urgency_levels() -> list[str]:
    return list(load_yaml("taxonomy.yaml")["urgency"])


def referral_targets() -> list[str]:
    return list(load_yaml("referral_rules.yaml")["targets"])
