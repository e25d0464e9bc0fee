"""Scan what the servers left behind (log files, SQLite databases) for personal data, with the very
detectors triage.pii masks with: mobile numbers, ID numbers (GB 11643 checksum and birth date), bank cards
(Luhn and an issuer prefix or card word) and plates. Their own rules decide what counts, so order numbers,
statute numbers and hotline numbers (12351, 12356, 110) are not findings.

Landlines are left out on purpose: the knowledge base publishes agencies' numbers (0750-3276220 ...), which
the landline rule matches; a caller's landline in a case is masked like any other span.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from triage.pii import PiiSpan, detect, mask

SCAN_KINDS = frozenset({"mobile", "id_card", "bank_card", "plate"})
SQLITE_MAGIC = b"SQLite format 3\x00"
# A hex digest or random id (token hashes, statute source ids, a build name in a log line: "build-52d13...e4") is not
# text anyone wrote: its digit runs are noise that a digit pattern can match ("14164970197d" is no phone number).
# Digests are blanked, whole values or inside a line, before the detectors run.
_DIGEST = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])[0-9a-f]{12,}(?![0-9A-Za-z])")
# Cheap pre-filter: every kind scanned needs an ASCII or full-width digit or letter.
_MAY_HOLD = re.compile(r"[0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_CACHE: dict[str, tuple[PiiSpan, ...]] = {}


def personal_data(text: str) -> tuple[PiiSpan, ...]:
    """The spans of the scanned kinds in ``text`` (cached: databases repeat the same seeded texts)."""
    if not _MAY_HOLD.search(text):
        return ()
    hit = _CACHE.get(text)
    if hit is None:
        plain = _DIGEST.sub(lambda m: "#" * len(m.group()), text)  # same length: spans keep their offsets
        hit = tuple(s for s in detect(plain) if s.kind in SCAN_KINDS)
        if len(_CACHE) < 500_000:
            _CACHE[text] = hit
    return hit


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str
    context: str  # the neighbourhood of the hit, itself masked: a report never repeats the value

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} in …{self.context}…"


@dataclass
class ScanReport:
    log_files: int = 0
    lines: int = 0
    databases: int = 0
    rows: int = 0
    values: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def hits(self) -> int:
        return len(self.findings)

    def summary(self) -> str:
        kinds = Counter(f.kind for f in self.findings)
        by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
        return (f"personal-data scan: {self.log_files} log files, {self.lines} lines; {self.databases} SQLite databases, "
                f"{self.rows} rows, {self.values} text values; {self.hits} hits ({by_kind})")


def _found(where: str, text: str, report: ScanReport) -> None:
    for span in personal_data(text):
        context = mask(text[max(0, span.start - 20): span.end + 20]).text.replace("\n", " ")
        report.findings.append(Finding(where, span.kind, context))


def _texts(value: object) -> Iterator[str]:
    """Every string in a stored value; JSON columns are decoded so escaped text is read as written."""
    if isinstance(value, bytes):
        return
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                decoded = json.loads(value)
            except ValueError:
                yield value
                return
            yield from _json_strings(decoded)
            return
        yield value


def _json_strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _json_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _json_strings(v)


def scan_log(path: Path, report: ScanReport) -> None:
    report.log_files += 1
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            report.lines += 1
            _found(f"{path}:{n}", line, report)


def scan_sqlite(path: Path, report: ScanReport) -> None:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.Error:
        con = sqlite3.connect(str(path))  # a WAL database without its -shm file needs a writable open
    report.databases += 1
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            cols = [r[1] for r in con.execute(f'pragma table_info("{table}")')]
            for row in con.execute(f'select rowid, * from "{table}"'):
                report.rows += 1
                for col, value in zip(cols, row[1:]):
                    for text in _texts(value):
                        report.values += 1
                        _found(f"{path.name}:{table}.{col}#{row[0]}", text, report)
    finally:
        con.close()


def is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def scan_paths(paths: Iterable[Path], report: ScanReport | None = None) -> ScanReport:
    """Log files are read line by line; a directory (a server's data dir) is searched for SQLite databases
    and *.log files. Paths that were never created are skipped."""
    report = report or ScanReport()
    files: dict[Path, str] = {}
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and is_sqlite(f):
                    files.setdefault(f.resolve(), "db")
                elif f.is_file() and f.suffix == ".log":
                    files.setdefault(f.resolve(), "log")
        elif p.is_file():
            files.setdefault(p.resolve(), "db" if is_sqlite(p) else "log")
    for f, kind in files.items():
        (scan_sqlite if kind == "db" else scan_log)(f, report)
    return report
