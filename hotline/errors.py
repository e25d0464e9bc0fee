"""Errors of the hotline records; the API maps them to HTTP statuses at its edge."""

from __future__ import annotations


class HotlineError(Exception):
    """Base class."""


class NotFound(HotlineError):
    pass


class AuthError(HotlineError):
    """Wrong name or password, or an unknown, expired or revoked token."""


class InvalidRequest(HotlineError):
    """A request that is well-formed but not allowed in the record's current state; ``zh``: the same reason in
    Chinese, for the person who reads it (the edge answers in both languages)."""

    def __init__(self, en: str, zh: str | None = None) -> None:
        super().__init__(en)
        self.zh = zh
