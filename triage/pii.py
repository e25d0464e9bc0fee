"""Personal data detection and masking.

Only masked text is ever stored or logged. Detection is real, not a digit-count guess:
ID numbers pass the GB 11643 checksum and carry a valid birth date, bank cards pass Luhn,
mobiles follow the mainland numbering plan in all their spellings (+86, spaces, dashes,
full-width digits). Order numbers, amounts and dates are left alone.

Detection runs on a same-length "ASCII view" of the text (full-width digits and signs folded
one character to one character), so spans found there are valid offsets into the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

PLACEHOLDERS = {
    "mobile": "[手机号]",
    "landline": "[电话]",
    "id_card": "[身份证号]",
    "bank_card": "[银行卡号]",
    "plate": "[车牌号]",
    "name": "[姓名]",
    "address": "[地址]",
    "email": "[邮箱]",
    "wechat": "[微信号]",
    "qq": "[QQ号]",
}


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """Where one piece of personal data sat in the text (the value itself is never kept)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    spans: tuple[PiiSpan, ...]

    @property
    def kinds(self) -> list[str]:
        return sorted({s.kind for s in self.spans})


# --- the ASCII view ---------------------------------------------------------------------------

_FOLD = {chr(0xFF10 + i): str(i) for i in range(10)}
_FOLD.update({"＋": "+", "－": "-", "—": "-", "‐": "-", "–": "-", "　": " ", "（": "(", "）": ")",
              "Ｘ": "X", "ｘ": "x", "＠": "@", "．": ".", "：": ":"})
_FOLD.update({chr(0xFF21 + i): chr(0x41 + i) for i in range(26)})
_FOLD.update({chr(0xFF41 + i): chr(0x61 + i) for i in range(26)})


def ascii_view(text: str) -> str:
    """Same length as ``text``; full-width digits, letters and signs folded to ASCII."""
    return "".join(_FOLD.get(ch, ch) for ch in text)


# --- validators -------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _valid_birth(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def valid_id_card(number: str) -> bool:
    """GB 11643-1999: 18 digits (last may be X) with checksum, or the old 15-digit form."""
    number = number.upper()
    if len(number) == 18 and number[:17].isdigit():
        if number[0] not in "12345678":
            return False
        if not _valid_birth(int(number[6:10]), int(number[10:12]), int(number[12:14])):
            return False
        total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
        return _ID_CHECK[total % 11] == number[17]
    if len(number) == 15 and number.isdigit():
        if number[0] not in "12345678":
            return False
        return _valid_birth(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
    return False


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes seen on cards in China: UnionPay 62, Visa 4, Mastercard 5/2, Amex 34/37, JCB 35.
_CARD_PREFIX = re.compile(r"^(?:62|4|5[1-5]|2[2-7]|3[457]|60|9)")

# --- patterns ---------------------------------------------------------------------------------

_SEP = r"[ \-]?"
# A digit run is never part of a longer digit run (lookarounds), so order numbers survive.
_MOBILE = re.compile(
    r"(?<![\d])(?:(?:\+|00)?86" + _SEP + r")?(1[3-9]\d)" + _SEP + r"(\d{4})" + _SEP + r"(\d{4})(?![\d])"
)
_LANDLINE = re.compile(r"(?<![\d\-])(?:\(?0\d{2,3}\)?[ \-]?)[2-9]\d{6,7}(?![\d])")
_ID_CARD = re.compile(r"(?<![\dA-Za-z])(\d{17}[\dXx]|\d{15})(?![\dA-Za-z])")
_CARD = re.compile(r"(?<![\d])(\d{4}(?:[ \-]?\d{4}){2,3}(?:[ \-]?\d{1,3})?)(?![\d])")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    rf"[{_PROVINCES}][A-HJ-NP-Za-hj-np-z][·•・.\- ]?(?:[A-HJ-NP-Za-hj-np-z0-9]{{5}}|[DFdf][A-HJ-NP-Za-hj-np-z0-9]{{5}}|\d{{5}}[DFdf])(?![A-Za-z0-9])"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_WECHAT = re.compile(
    r"(?:(?:微信号?|威信|薇信|vx|VX|Vx|wx|WX|v信|V信|weixin|wechat|WeChat)\s*(?:号|id|ID)?\s*(?:是|为|:|=)?\s*)"
    r"([A-Za-z][-_A-Za-z0-9]{5,19})"
)
_WXID = re.compile(r"wxid_[A-Za-z0-9]{6,}")
_QQ = re.compile(r"(?:QQ|qq|扣扣)\s*号?\s*(?:是|为|:)?\s*(\d{5,11})(?!\d)")

# Words that say a number is an order/waybill/staff number, not a person's number.
_ORDER_CONTEXT = re.compile(r"(?:订单|单号|运单|快递|工号|编号|流水|取餐|尾号|订单编号|no\.?|NO\.?)\s*[:：#]?\s*$")
_CARD_CONTEXT = re.compile(r"(?:卡号?|银行|账号|帐号|账户|帐户|工资卡|收款)\s*[:：]?\s*(?:是|为)?\s*$")

# Names: a surname from this list, then one or two given-name characters.
_SURNAMES_1 = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "区麦甘冼岑伍骆欧温植容劳关利霍司"
)
_SURNAMES_2 = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "司徒")
_SURNAME_RE = "(?:" + "|".join(_SURNAMES_2) + f"|[{_SURNAMES_1}])"
# Characters that end a name: function words, punctuation, digits, and words that follow names.
_NOT_NAME = "的了是在我你他她它们今年岁住有没不和跟说要想去来到从被把给让叫做跑送开为与及也都就还很啊呀吧呢吗嘛哦喔噢，。,.!！?？、 ：:；;（）()0123456789"
# Words that often follow a name directly ("我叫张三电话138..."): a given name never swallows their first
# character (it used to: "张三电" masked as [姓名] left "话").
_AFTER_NAME = ("电话|手机|号码|微信|身份证|今年|住在|家住|工号|车牌|联系|地址|老家|来自|骑手|司机|快递|外卖|师傅|先生|女士|"
               "小姐|同志|跑单|送餐|送外卖|开车|开网约车|电单车|电动车|租车|平台|美团|饿了么|滴滴|站点|公司|这边|那边")
_NAME_INTRO = re.compile(
    rf"(?:我叫|我係|我系|我是|本人叫|本人是|姓名\s*[:：]?\s*|名字叫|名字是|叫做)\s*"
    rf"({_SURNAME_RE}(?!(?:{_AFTER_NAME}))[^{_NOT_NAME}](?:(?!(?:{_AFTER_NAME}))[^{_NOT_NAME}])?)"
)
_NAME_HONORIFIC = re.compile(
    rf"({_SURNAME_RE})(?=(?:先生|女士|小姐|师傅|师父|阿姨|大哥|大姐|生(?![产活意日病气命])|太|姐|哥))"
)
_SURNAME_ONLY = re.compile(rf"(?<=[我他她]姓)({_SURNAME_RE})|(?<=^姓)({_SURNAME_RE})")
_ROOM = r"(?:\d+(?:栋|座|幢|单元|号楼))?(?:\d+(?:室|房|楼|号房))?"
_ADDRESS = re.compile(
    rf"(?:(?:(?![区市县镇乡省住在到去是的])[\u4e00-\u9fa5]){{1,4}}(?:路|街|大道|大街|巷|弄|里|坊))\d+(?:号|號)(?:[之\-]\d+)?{_ROOM}"
    rf"|\d+(?:栋|座|幢|号楼)\d+(?:室|房|号房)?"
)


def _order_context(view: str, start: int) -> bool:
    return bool(_ORDER_CONTEXT.search(view[max(0, start - 12) : start]))


def detect(text: str) -> list[PiiSpan]:
    """All personal-data spans in ``text``, non-overlapping, left to right."""
    view = ascii_view(text)
    found: list[PiiSpan] = []

    def add(kind: str, start: int, end: int) -> None:
        found.append(PiiSpan(kind, start, end))

    for m in _EMAIL.finditer(view):
        add("email", m.start(), m.end())
    for m in _WXID.finditer(view):
        add("wechat", m.start(), m.end())
    for m in _WECHAT.finditer(view):
        add("wechat", m.start(1), m.end(1))
    for m in _QQ.finditer(view):
        add("qq", m.start(1), m.end(1))
    for m in _ID_CARD.finditer(view):
        if valid_id_card(m.group(1)) and not _order_context(view, m.start()):
            add("id_card", m.start(1), m.end(1))
    for m in _CARD.finditer(view):
        digits = re.sub(r"[ \-]", "", m.group(1))
        if not 16 <= len(digits) <= 19 or not luhn_ok(digits) or _order_context(view, m.start()):
            continue
        # A Luhn-valid digit run is a card only with an issuer prefix or a card word before it:
        # one in ten random order numbers passes Luhn by chance.
        if _CARD_PREFIX.match(digits) or _CARD_CONTEXT.search(view[max(0, m.start() - 10) : m.start()]):
            add("bank_card", m.start(1), m.end(1))
    for m in _MOBILE.finditer(view):
        if not _order_context(view, m.start()):
            add("mobile", m.start(), m.end())
    for m in _LANDLINE.finditer(view):
        if not _order_context(view, m.start()):
            add("landline", m.start(), m.end())
    for m in _PLATE.finditer(view):
        add("plate", m.start(), m.end())
    for m in _NAME_INTRO.finditer(text):
        add("name", m.start(1), m.end(1))
    for m in _NAME_HONORIFIC.finditer(text):
        add("name", m.start(1), m.end(1))
    for m in _SURNAME_ONLY.finditer(text):
        g = 1 if m.group(1) else 2
        add("name", m.start(g), m.end(g))
    for m in _ADDRESS.finditer(text):
        add("address", m.start(), m.end())
    return _resolve_overlaps(found)


# When spans overlap, the stronger evidence wins (a checksum beats a pattern).
_PRIORITY = {"email": 0, "wechat": 1, "id_card": 2, "bank_card": 3, "mobile": 4, "qq": 5, "landline": 6,
             "plate": 7, "address": 8, "name": 9}


def _resolve_overlaps(spans: list[PiiSpan]) -> list[PiiSpan]:
    chosen: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (_PRIORITY[s.kind], s.start, -(s.end - s.start))):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def mask(text: str) -> MaskResult:
    """Replace every personal-data span with its typed placeholder.

    >>> mask("我叫陈小明，电话138 1234 5678，订单号 2401051234567890123").text
    '我叫[姓名]，电话[手机号]，订单号 2401051234567890123'
    """
    spans = detect(text)
    out: list[str] = []
    pos = 0
    for span in spans:
        out.append(text[pos : span.start])
        out.append(PLACEHOLDERS[span.kind])
        pos = span.end
    out.append(text[pos:])
    return MaskResult("".join(out), tuple(spans))
