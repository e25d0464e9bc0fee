"""Loading the staff-editable data files of triage/ (YAML lexicons and rules)."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@lru_cache(maxsize=None)
def load_yaml(name: str) -> Any:
    return yaml.safe_load(resources.files("triage.data").joinpath(name).read_text(encoding="utf-8"))


class Gazetteer:
    """Longest-match lookup of surface forms -> canonical names, for one entity kind."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.canonical = {form.lower(): name for name, forms in table.items() for form in forms}
        forms = sorted(self.canonical, key=len, reverse=True)
        # Latin forms must stand alone ("uu" not inside "uuid"); Chinese forms match anywhere.
        parts = [rf"(?<![a-z]){re.escape(f)}(?![a-z])" if f.isascii() else re.escape(f) for f in forms]
        self.pattern = re.compile("|".join(parts))

    def find(self, normalised: str) -> list[tuple[str, str, int, int]]:
        """(canonical, surface, start, end) for each match, left to right."""
        return [(self.canonical[m.group(0)], m.group(0), m.start(), m.end()) for m in self.pattern.finditer(normalised)]


@lru_cache(maxsize=None)
def gazetteer(kind: str) -> Gazetteer:
    return Gazetteer(load_yaml("entities.yaml")[kind])
