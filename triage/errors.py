"""Domain errors of triage/. The edge (CLI, API) turns them into messages and status codes."""

from __future__ import annotations


class TriageError(Exception):
    """Base class for errors raised by triage/."""


class TextError(TriageError, ValueError):
    """A message that cannot be analysed. Carries a stable code and a reason in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{en} / {zh}")
        self.code = code
        self.zh = zh
        self.en = en


class ArtifactError(TriageError):
    """A saved model is missing, corrupt, or does not match what this code expects."""
