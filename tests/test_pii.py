"""PII masking: measured recall/precision on generated strings, plus properties that must always hold."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests import pii_generators as gen
from triage.pii import PLACEHOLDERS, detect, mask, valid_id_card

STRICT = ("mobile", "id_card", "bank_card", "plate")


def test_recall_and_precision_on_6000_generated_strings() -> None:
    rng = random.Random(20261129)
    tp = fn = fp = 0
    misses: list[str] = []
    false_hits: list[str] = []
    for _ in range(4000):
        text, kind, value = gen.positive(rng)
        result = mask(text)
        hit = value not in result.text and PLACEHOLDERS[kind] in result.text
        tp, fn = (tp + 1, fn) if hit else (tp, fn + 1)
        if not hit:
            misses.append(text)
        fp += sum(1 for s in result.spans if s.kind in STRICT and s.kind != kind)
    negatives = 0
    for _ in range(2000):
        text, value = gen.negative(rng)
        negatives += 1
        spans = [s for s in detect(text) if s.kind in STRICT]
        if spans or value not in mask(text).text:
            fp += len(spans) or 1
            false_hits.append(text)
    recall = tp / (tp + fn)
    precision = tp / (tp + fp)
    print(f"\nPII on {tp + fn} positives + {negatives} look-alike negatives: recall {recall:.4f}, precision {precision:.4f}")
    print("misses:", misses[:5], "false hits:", false_hits[:5])
    assert recall >= 0.995
    assert precision >= 0.98


@given(st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_valid_id_numbers_are_always_masked(rng) -> None:
    number = gen.id18(rng)
    assert valid_id_card(number)
    assert mask(f"身份证{number}，请帮我查").text == "身份证[身份证号]，请帮我查"


@given(st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_mobiles_in_every_spelling_are_masked(rng) -> None:
    number = gen.mobile(rng)
    out = mask(f"我电话{number}，谢谢").text
    assert out == "我电话[手机号]，谢谢", (number, out)


@given(st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_order_numbers_amounts_and_dates_survive(rng) -> None:
    text, value = gen.negative(rng)
    if "编码" in text:  # an ID-shaped number with a wrong checksum may look like a card; measured above
        return
    assert value in mask(text).text, text


def test_examples_from_call_notes() -> None:
    cases = {
        "我叫陈小明，电话138 1234 5678，订单号 2401051234567890123": "我叫[姓名]，电话[手机号]，订单号 2401051234567890123",
        "车牌粤J·12345，新能源粤JD12345": "车牌[车牌号]，新能源[车牌号]",
        "我住蓬江区白石大道126号3栋501房": "我住蓬江区[地址]",
        "加我微信：wxid_abc12345 邮箱 a.b@qq.com": "加我微信：[微信号] 邮箱 [邮箱]",
        "打0750-3276220问问": "打[电话]问问",
        "王师傅上个月15号被撞，押金800元": "[姓名]师傅上个月15号被撞，押金800元",
        "我叫了120，然后打12351": "我叫了120，然后打12351",
    }
    for text, expected in cases.items():
        assert mask(text).text == expected


def test_masking_never_keeps_the_value() -> None:
    result = mask("电话13912345678")
    assert result.spans[0].kind == "mobile"
    assert "139" not in result.text and "13912345678" not in repr(result)


_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢") + ["欧阳", "司徒"]
_GIVEN = list("三四伟芳娜敏静强磊军洋勇艳杰涛明超秀霞平刚桂英华玉")
_FOLLOWING = ["电话", "手机", "手机号", "微信", "身份证", "今年", "住在", "家住", "工号", "车牌", "联系方式", "地址", "老家",
              "骑手", "司机", "跑单", "送外卖", "开网约车", "在美团", "在站点"]


@settings(max_examples=300, deadline=None)
@given(surname=st.sampled_from(_SURNAMES), given_name=st.text(alphabet=_GIVEN, min_size=1, max_size=2),
       intro=st.sampled_from(["我叫", "我是", "本人叫", "名字叫"]), follow=st.sampled_from(_FOLLOWING))
def test_a_name_ends_where_the_next_word_begins(surname: str, given_name: str, intro: str, follow: str) -> None:
    """The name span must not swallow the first character of the word after it ("张三电话" -> "[姓名]电话")."""
    text = f"{intro}{surname}{given_name}{follow}"
    out = mask(text).text
    assert out == f"{intro}{PLACEHOLDERS['name']}{follow}", (text, out)
