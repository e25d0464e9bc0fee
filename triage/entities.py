"""Entities in one message: platform, worker role, district, money, dates, durations, vehicle, injury.

Lexicons live in ``triage/data/entities.yaml``. Money values and dates are resolved with jionlp
(dates against the message time); only the month words jionlp does not resolve on its own
(上个月, 这个月 ...) are handled here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from triage.lexicon import gazetteer


@dataclass(frozen=True, slots=True)
class Money:
    text: str
    value: float
    value_max: float | None = None  # "六百多" is 600 to 700
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class DateMention:
    text: str
    start: date
    end: date
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class Duration:
    text: str
    days: float


@dataclass(frozen=True, slots=True)
class Injury:
    word: str
    severity: str  # severe | moderate | minor


@dataclass(frozen=True, slots=True)
class Entities:
    platforms: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    money: list[Money] = field(default_factory=list)
    dates: list[DateMention] = field(default_factory=list)
    durations: list[Duration] = field(default_factory=list)
    vehicles: list[str] = field(default_factory=list)
    injuries: list[Injury] = field(default_factory=list)

    @property
    def injury_severity(self) -> str | None:
        order = ("severe", "moderate", "minor")
        found = {i.severity for i in self.injuries}
        return next((s for s in order if s in found), None)

    @property
    def earliest_date(self) -> date | None:
        return min((d.start for d in self.dates), default=None)


class _DropJionlpRecords(logging.Filter):
    """jionlp logs a traceback on the root logger for phrases it cannot parse; we treat those as no date."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "jionlp" not in record.pathname


@lru_cache(maxsize=1)
def _jio() -> Any:
    # jionlp prints a banner on import; keep it out of CLI output.
    with contextlib.redirect_stdout(io.StringIO()):
        import jionlp

    logging.getLogger().addFilter(_DropJionlpRecords())
    return jionlp


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- money ------------------------------------------------------------------------------------

_NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万]+)"
_MONEY = re.compile(
    rf"(?<![\d.a-z])({_NUM}(?:多|余|来|几)?(?:万|千|k|w)?(?:多|余)?)\s*(元|块钱|块|蚊|圆|rmb)?(?![\d])"
)
_COUNTER = re.compile(r"^\s*(?:个|单|次|天|日|号|小时|分钟|公里|km|米|人|年|月|岁|分|斤|件|份|楼|栋|层|周|星期|条|名|辆|台|倍|%|点|期)")
_MONEY_CONTEXT = re.compile(r"(?:钱|费|押金|工资|薪|赔|扣|罚|退|欠|交了|花了|付了|给了|一共|总共|合计|补偿|报销|收入|提现|收了|拿了|结算|还剩)")


def _money(norm: str) -> list[Money]:
    out: list[Money] = []
    for m in _MONEY.finditer(norm):
        amount, unit = m.group(1), m.group(2)
        if _COUNTER.match(norm[m.end() :]):
            continue
        has_magnitude = bool(re.search(r"[百千万kw]", amount)) or (amount.replace(".", "").isdigit() and float(amount) >= 10)
        context = _MONEY_CONTEXT.search(norm[max(0, m.start() - 8) : m.start()]) or _MONEY_CONTEXT.match(
            norm[m.end() : m.end() + 4]
        )
        if not unit and not (has_magnitude and context):
            continue
        if amount.isdigit() and len(amount) > 9:  # long digit runs are ids or order numbers, not sums
            continue
        try:
            parsed = _jio().parse_money(amount + "元")  # every unit we accept (块, 蚊, rmb ...) means yuan
        except Exception:  # jionlp raises on forms it cannot read; such spans are not money
            continue
        num = parsed["num"]
        if isinstance(num, list):
            out.append(Money(m.group(0), float(num[0]), float(num[1]), True))
        else:
            out.append(Money(m.group(0), float(num), None, parsed.get("definition") == "blur"))
    return out


# --- dates and durations ----------------------------------------------------------------------

_CLAUSE = re.compile(r"[^,，。;；!！?？\n]+")
_MONTH_WORDS = re.compile(r"(上上个月|上个月|上月|这个月|本月|下个月|下月)(?![底初中\d一二三四五六七八九十])")
_MONTH_SHIFT = {"上上个月": -2, "上个月": -1, "上月": -1, "这个月": 0, "本月": 0, "下个月": 1, "下月": 1}


def _month_span(base: date, shift: int) -> tuple[date, date]:
    year, month = divmod(base.year * 12 + base.month - 1 + shift, 12)
    first = date(year, month + 1, 1)
    nxt = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def _dates(norm: str, now: datetime) -> tuple[list[DateMention], list[Duration]]:
    base = {"year": now.year, "month": now.month, "day": now.day, "hour": now.hour, "minute": now.minute, "second": 0}
    dates: list[DateMention] = []
    durations: list[Duration] = []
    covered: list[tuple[int, int]] = []
    found: list[dict[str, Any]] = []
    # Clause by clause: jionlp otherwise joins "两年三个月，3天前" into one span.
    for clause in _CLAUSE.finditer(norm):
        try:
            items = _jio().ner.extract_time(clause.group(0), time_base=base, with_parsing=True)
        except Exception:  # a malformed date phrase must not sink the whole message
            continue
        for item in items:
            a, b = item["offset"]
            found.append({**item, "offset": [a + clause.start(), b + clause.start()]})
    for item in found:
        detail = item.get("detail") or {}
        kind = item.get("type")
        if kind in ("time_point", "time_span") and isinstance(detail.get("time"), list):
            start, end = detail["time"][0], detail["time"][1]
            if start.startswith("inf") or end.startswith("inf") or start.startswith("-inf"):
                continue
            try:
                d0 = datetime.strptime(start[:10], "%Y-%m-%d").date()
                d1 = datetime.strptime(end[:10], "%Y-%m-%d").date()
            except ValueError:
                continue
            dates.append(DateMention(item["text"], d0, d1, detail.get("definition") == "blur"))
            covered.append(tuple(item["offset"]))
        elif kind == "time_delta" and isinstance(detail.get("time"), dict):
            t = detail["time"]
            days = (t.get("year", 0) * 365 + t.get("month", 0) * 30 + t.get("day", 0) + t.get("hour", 0) / 24
                    + t.get("week", 0) * 7)
            if days:
                durations.append(Duration(item["text"], round(float(days), 2)))
    for m in _MONTH_WORDS.finditer(norm):
        if any(a <= m.start() < b for a, b in covered):
            continue
        d0, d1 = _month_span(now.date(), _MONTH_SHIFT[m.group(1)])
        dates.append(DateMention(m.group(1), d0, d1, False))
    return dates, durations


def extract(normalised: str, now: datetime) -> Entities:
    """Entities of a normalised message; dates resolved against ``now`` (the message time)."""
    injuries = _injuries(normalised)
    dates, durations = _dates(normalised, now)
    return Entities(
        platforms=_unique([c for c, *_ in gazetteer("platforms").find(normalised)]),
        roles=_unique([c for c, *_ in gazetteer("roles").find(normalised)]),
        districts=_unique([c for c, *_ in gazetteer("districts").find(normalised)]),
        money=_money(normalised),
        dates=dates,
        durations=durations,
        vehicles=_unique([c for c, *_ in gazetteer("vehicles").find(normalised)]),
        injuries=injuries,
    )


def _injuries(normalised: str) -> list[Injury]:
    seen: dict[str, Injury] = {}
    for severity, word, *_ in gazetteer("injuries").find(normalised):
        seen.setdefault(word, Injury(word, severity))
    return list(seen.values())
