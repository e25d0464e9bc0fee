"""Domain errors of kb/. The edge turns them into HTTP statuses and CLI messages."""

from __future__ import annotations


class KBError(Exception):
    """Base class for knowledge-base errors."""


class NotFoundError(KBError):
    """No such entry, revision or article."""


class ConflictError(KBError):
    """The write named a version that is no longer current (someone else changed the entry)."""

    def __init__(self, entry_id: int, expected: int, current: int) -> None:
        super().__init__(
            f"entry {entry_id} is at version {current}, not {expected}: reload it and apply your change again"
        )
        self.entry_id = entry_id
        self.expected = expected
        self.current = current


class DuplicateError(KBError):
    """An entry with this slug already exists."""


class WorkflowError(KBError):
    """A status change that the workflow rules do not allow, with the reasons."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message + (": " + "; ".join(reasons) if reasons else ""))
        self.reasons = reasons or []


class ImportRowError(KBError):
    """Rows that cannot be imported, reported by line; nothing was written."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        lines = "; ".join(f"line {n}: {msg}" for n, msg in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} bad row(s), nothing imported: {lines}{more}")
        self.errors = errors


class PersonalDataError(KBError):
    """Entry content holding personal data (a phone, ID or card number, a plate): refused, not stored."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__("the content holds personal data: " + "; ".join(fields[:20]))
        self.fields = fields


class RankingModelError(KBError):
    """The ranking model file does not match what the service searches with (other vectors, another
    dictionary or other situation tags), or cannot be read: refit with `jishibang train search`."""


class EmptyIndexError(KBError):
    """Nothing is published yet, so there is nothing to search."""
