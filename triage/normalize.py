"""Text checks and normalisation before segmentation.

``check_text`` refuses input nobody should analyse (empty, too long, control characters);
``normalize`` folds full-width forms, traditional characters and Cantonese forms so that
"點解冇人理" and "为什么没有人理" look alike to every later step.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

from triage.errors import TextError

MAX_CHARS = 5000

# C0/C1 controls except tab, newline, carriage return; plus unassigned/private/surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")


def check_text(text: object, max_chars: int = MAX_CHARS) -> str:
    """Return ``text`` stripped, or raise :class:`TextError` saying why it cannot be analysed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TextError("invalid_encoding", "文本不是有效的 UTF-8 编码", "text is not valid UTF-8") from exc
    if not isinstance(text, str):
        raise TextError("not_text", "输入必须是文本", "input must be a string")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise TextError("invalid_encoding", "文本含有无效的 Unicode 代理字符", "text contains unpaired surrogates")
    if _CONTROL.search(text):
        raise TextError("control_chars", "文本含有控制字符", "text contains control characters")
    stripped = text.strip()
    if not stripped:
        raise TextError("empty", "文本为空", "text is empty")
    if len(stripped) > max_chars:
        raise TextError(
            "too_long",
            f"文本过长（{len(stripped)} 字，上限 {max_chars} 字）",
            f"text too long ({len(stripped)} characters, limit {max_chars})",
        )
    return stripped


def _read_table(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in resources.files("triage.data").joinpath(name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        left, _, right = line.partition("\t")
        if left and right:
            rows.append((left.strip(), right.strip()))
    return rows


@lru_cache(maxsize=1)
def _converter():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _cantonese_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    # Cantonese forms and misspelt key words (仲才 -> 仲裁) in one pass, longest form first.
    table = dict(_read_table("misspellings.tsv")) | dict(_read_table("cantonese.tsv"))
    forms = sorted(table, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, forms))), table


def to_simplified(text: str) -> str:
    return str(_converter().convert(text))


def normalize(text: str) -> str:
    """Full-width -> half-width, traditional -> simplified, Cantonese -> Mandarin, misspelt key words
    (misspellings.tsv) corrected, lower-case Latin.

    >>> normalize("點解我嘅押金仲未退？ＡＰＰ話冇")
    '为什么我的押金还未退?app话没有'
    """
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text)
    pattern, table = _cantonese_pattern()
    text = pattern.sub(lambda m: table[m.group(0)], text)
    return _SPACE.sub(" ", text).strip().lower()


# A greeting or pleasantry alone (after normalisation: Cantonese folded, punctuation and emoji dropped): search
# hands it a friendly prompt, the danger detector never flags it.
_GREETING = re.compile(
    r"^(你好|您好|你们好|大家好|早上好|早晨|中午好|下午好|晚上好|晚安|在吗|在不在|有人吗|有没有人|有人在吗|喂|哈喽|嗨|hi|hello|"
    r"谢谢|多谢|谢谢你|谢谢你们|唔该|好的|好|嗯|嗯嗯|哦|ok|okay|收到|明白|知道了|辛苦了|再见|拜拜|bye|测试|test|请问|"
    r"你是机器人吗|你是谁|转人工|人工|人工客服)+$", re.I)
_NOT_WORD = re.compile(r"[^\w\u3400-\u9fff]")


def is_greeting(normalised: str) -> bool:
    words = _NOT_WORD.sub("", normalised)
    return bool(words) and bool(_GREETING.match(words.lower()))


def has_words(normalised: str) -> bool:
    """Any letter, digit or Chinese character at all (not only emoji and punctuation)."""
    return bool(_NOT_WORD.sub("", normalised))
