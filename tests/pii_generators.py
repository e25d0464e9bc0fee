"""Generators of personal data in Chinese context, and of look-alikes that are not personal data.

Plain functions over a ``random.Random`` so the same code serves the seeded measurement (thousands of
strings, figures printed) and hypothesis property tests (``st.randoms()`` supplies the Random).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from triage.pii import _ID_CHECK, _ID_WEIGHTS, luhn_ok

REGIONS = ["440703", "440704", "440705", "440781", "440783", "440784", "440785", "110101", "430102", "450103",
           "360721", "510104", "420111", "350203", "130104", "610113", "532901", "441302"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "147", "150", "151", "152", "153",
                   "155", "156", "157", "158", "159", "166", "170", "173", "175", "176", "177", "178", "180", "181",
                   "182", "183", "185", "186", "187", "188", "189", "191", "193", "195", "198", "199"]
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
FULLWIDTH = {str(i): chr(0xFF10 + i) for i in range(10)}


def _birth(rng: random.Random) -> date:
    return date(1955, 1, 1) + timedelta(days=rng.randrange(0, 365 * 52))


def id18(rng: random.Random) -> str:
    body = rng.choice(REGIONS) + _birth(rng).strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    check = _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS)) % 11]
    return body + (check.lower() if check == "X" and rng.random() < 0.2 else check)


def id15(rng: random.Random) -> str:
    return rng.choice(REGIONS) + _birth(rng).strftime("%y%m%d") + f"{rng.randrange(1000):03d}"


def mobile(rng: random.Random) -> str:
    digits = rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
    style = rng.randrange(7)
    if style == 1:
        digits = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    elif style == 2:
        digits = f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    elif style == 3:
        digits = rng.choice(["+86", "+86 ", "+86-", "86", "0086 "]) + digits
    elif style == 4:
        digits = "".join(FULLWIDTH.get(c, c) for c in digits)
    elif style == 5:
        digits = "+86 " + f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return digits


def card(rng: random.Random) -> str:
    length = rng.choice([16, 16, 19, 19, 17, 18])
    prefix = rng.choice(["622202", "622848", "621700", "623668", "622588", "436742", "524047", "625965"])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    number = next(body + d for d in "0123456789" if luhn_ok(body + d))
    if rng.random() < 0.4:
        number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def plate(rng: random.Random) -> str:
    province = rng.choice(PROVINCES)
    letter = rng.choice(PLATE_LETTERS)
    kind = rng.randrange(3)
    if kind == 0:
        tail = "".join(rng.choice(PLATE_LETTERS[:10] + "0123456789") for _ in range(5))
    elif kind == 1:
        tail = rng.choice("DF") + "".join(rng.choice("0123456789") for _ in range(5))
    else:
        tail = "".join(rng.choice("0123456789") for _ in range(5)) + rng.choice("DF")
    sep = rng.choice(["", "", "·", " "])
    return f"{province}{letter}{sep}{tail}"


POSITIVE_TEMPLATES = {
    "mobile": ["我电话{}，有事打我", "来电人留的号码：{}", "打{}找我就行", "联系方式 {} 陈先生", "手机{}微信同号",
               "我係跑美团嘅，电话{}，唔该回复", "麻烦回拨{}谢谢🙏", "站长的号是{}，他一直不接"],
    "id_card": ["身份证号{}", "我的身份证是{}，户口在湖南", "来电人身份证号码：{}。诉求：讨薪", "证件号 {} 请核实",
                "身份證{}，我係廣西人"],
    "bank_card": ["工资卡号{}，上个月没到账", "银行卡 {} 被冻结了", "打到我卡上：{}", "卡号是{}，农业银行",
                  "收款账号{}一直没收到钱"],
    "plate": ["车牌{}被交警扣了", "撞我的车是{}，跑了", "我开的货拉拉，车牌号{}", "对方车牌 {} 已报警",
              "車牌{}俾人刮花咗"],
}
KIND_OF = {"mobile": "mobile", "id_card": "id_card", "bank_card": "bank_card", "plate": "plate"}
MAKERS = {"mobile": mobile, "id_card": lambda r: id18(r) if r.random() < 0.85 else id15(r), "bank_card": card, "plate": plate}


def positive(rng: random.Random) -> tuple[str, str, str]:
    """(text, kind, value): a message containing one piece of personal data."""
    kind = rng.choice(list(MAKERS))
    value = MAKERS[kind](rng)
    return rng.choice(POSITIVE_TEMPLATES[kind]).format(value), kind, value


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def negative(rng: random.Random) -> tuple[str, str]:
    """(text, what): a message with numbers that are NOT personal data and must survive masking."""
    choice = rng.randrange(10)
    if choice == 0:
        v = rng.choice(["", "2", "8"]) + _digits(rng, rng.choice([17, 18]))
        return f"订单号{v}，超时被罚", v
    if choice == 1:
        v = f"{rng.randrange(100, 99999)}元"
        return f"押金{v}一直没退", v
    if choice == 2:
        d = date(2020, 1, 1) + timedelta(days=rng.randrange(2500))
        v = d.strftime(rng.choice(["%Y%m%d", "%Y-%m-%d", "%Y年%m月%d日"]))
        return f"{v}入职，到现在没签合同", v
    if choice == 3:
        v = rng.choice(["10", "11", "12"]) + _digits(rng, 9)
        return f"运单号{v}的件丢了", v
    if choice == 4:
        v = rng.choice(["12351", "12333", "12345", "110", "120", "12356", "12315"])
        return f"打了{v}没人接", v
    if choice == 5:
        v = _digits(rng, 16)
        while luhn_ok(v):
            v = _digits(rng, 16)
        return f"流水号{v}", v
    if choice == 6:
        v = f"{rng.randrange(1, 60)}单"
        return f"今天跑了{v}，罚了{rng.randrange(5, 200)}块", v
    if choice == 7:
        v = f"{rng.randrange(2020, 2027)}年{rng.randrange(1, 13)}月"
        return f"从{v}开始一直拖欠工资", v
    if choice == 8:
        body = rng.choice(REGIONS) + "19900101" + _digits(rng, 3)
        good = _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS)) % 11]
        wrong = next(c for c in "0123456789X" if c != good)
        v = body + wrong
        return f"编码{v}", v
    v = f"{rng.randrange(1, 24):02d}:{rng.randrange(60):02d}"
    return f"晚上{v}在蓬江被罚款{rng.randrange(50, 500)}元", v
