"""Normalisation, segmentation, entities, deadlines, urgency cues and referral rules (no model needed)."""

import re
from datetime import date, datetime

import pytest

from tests.conftest import SHARED
from triage import deadlines, referrals
from triage.entities import extract
from triage.errors import TextError
from triage.lexicon import load_yaml
from triage.normalize import check_text, normalize
from triage.segment import Segmenter
from triage.taxonomy import issue_types, referral_targets, urgency_levels
from triage.urgency import assess, cue_reasons

NOW = datetime(2026, 11, 29, 10, 0)


def ents(text: str):
    return extract(normalize(text), NOW)


# --- normalisation and segmentation --------------------------------------------------------------

def test_normalize_folds_fullwidth_traditional_and_cantonese() -> None:
    assert normalize("點解我嘅押金仲未退？ＡＰＰ話冇") == "为什么我的押金还未退?app话没有"
    assert normalize("佢哋而家喺度打我") == "他们现在在度打我"


def test_segmenter_uses_domain_dictionary_and_synonyms() -> None:
    words = Segmenter()("骑士被封号了，美团众包站长不退押金")
    assert "骑手" in words and "封号" in words and "美团众包" in words and "押金" in words
    assert "了" not in words  # stop words removed


@pytest.mark.parametrize(
    ("text", "code"),
    [("", "empty"), ("   \n ", "empty"), ("a\x00b", "control_chars"), ("x" * 5001, "too_long"),
     (b"\xff\xfe", "invalid_encoding"), (123, "not_text")],
)
def test_bad_text_is_refused_with_a_reason(text, code) -> None:
    with pytest.raises(TextError) as err:
        check_text(text)
    assert err.value.code == code and err.value.zh and err.value.en


def test_emoji_traditional_and_long_text_are_fine() -> None:
    assert check_text(" 押金唔退😡 ") == "押金唔退😡"
    assert len(check_text("长" * 5000)) == 5000


# --- entities ------------------------------------------------------------------------------------

def test_platform_role_district_money() -> None:
    e = ents("我喺蓬江跑美团众包，押金八百元冇退，装备费一千七百多块，仲有1.2万工资，另外两千")
    assert e.platforms == ["美团"] and "外卖骑手" in e.roles and e.districts == ["蓬江区"]
    values = [(m.value, m.value_max) for m in e.money]
    assert (800.0, None) in values and (1700.0, 1800.0) in values and (12000.0, None) in values and (2000.0, None) in values


def test_money_skips_counts_and_order_numbers() -> None:
    e = ents("今天跑了30单，订单号2401051234567890123，罚了50")
    assert [m.value for m in e.money] == [50.0]


def test_dates_resolve_against_message_time() -> None:
    e = ents("上个月15号被撞，昨天才出院，2025年3月入职，上个月工资没发")
    starts = {d.text: d.start for d in e.dates}
    assert starts["上个月15号"] == date(2026, 10, 15)
    assert starts["昨天"] == date(2026, 11, 28)
    assert starts["2025年3月"] == date(2025, 3, 1)
    assert starts["上个月"] == date(2026, 10, 1)


def test_durations_vehicles_injuries() -> None:
    e = ents("干了两年三个月，骑电动车被小车撞了，骨折住院")
    assert e.durations and e.durations[0].days == pytest.approx(820)
    assert set(e.vehicles) == {"电动车", "汽车"}
    assert e.injury_severity == "severe"


# --- deadlines -----------------------------------------------------------------------------------

def test_injury_deadlines_count_from_the_accident() -> None:
    text = "上个月15号送餐路上摔伤了"
    found = {d.id: d for d in deadlines.find(["injury"], normalize(text), ents(text), NOW.date())}
    employer = found["injury_recognition_employer"]
    assert employer.starts == date(2026, 10, 15) and employer.due == date(2026, 11, 14) and employer.days_left == -15
    assert found["injury_recognition_worker"].due == date(2027, 10, 15)
    assert found["injury_recognition_worker"].days_left == 320
    assert found["occupational_injury_pilot_report"].unverified and found["occupational_injury_pilot_report"].due is None


def test_arbitration_clock_without_a_date_has_no_due_date() -> None:
    found = deadlines.find(["pay_settlement"], "工资没发", ents("工资没发"), NOW.date())
    assert {d.id for d in found} >= {"labour_arbitration_limitation"}
    assert all(d.due is None for d in found)


def test_every_deadline_basis_resolves_to_a_statute_article() -> None:
    articles = _articles()
    for rule in load_yaml("deadlines.yaml")["deadlines"]:
        if rule.get("basis"):
            assert (rule["basis"]["law"], rule["basis"]["article"]) in articles, rule["id"]


def _articles() -> set[tuple[str, str]]:
    import json

    path = SHARED / "data" / "lawrefbook_laws" / "articles.jsonl"
    if not path.exists():
        pytest.skip("statute corpus not beside the repo (../shared)")
    return {(r["law"], r["article"]) for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


# --- urgency -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    ["保安正在打我 救命", "我不想活了", "药都买好了，最后一次麻烦你们", "兄弟们我先走了 这辈子跑单跑够了",
     "佢哋而家围住我打", "同事被车撞了倒在地上没反应", "刚刚摔了流了好多血", "電池冒烟了着火了",
     "我准备今晚收工就去做个了断", "有时候觉得带着孩子一起走算了"],
)
def test_emergency_cues_fire(text) -> None:
    assert assess(normalize(text), ents(text)).level == "emergency"


@pytest.mark.parametrize(
    "text", ["快被罚死了", "被气死了", "热死了今天", "压力好大但还能撑", "撞单了怎么办", "我和同事一起走路送餐"]
)
def test_idioms_are_not_emergencies(text) -> None:
    assert assess(normalize(text), ents(text)).level != "emergency"


def test_close_deadline_raises_urgency_with_reason() -> None:
    u = assess("工资没发", ents("工资没发"), "normal", ["劳动仲裁时效（1年）：剩 5 天"])
    assert u.level == "high" and u.reasons[0].source == "deadline"


def test_low_urgency_for_information_requests() -> None:
    assert assess(normalize("怎么入会"), ents("怎么入会")).level == "low"
    assert any(r.code == "information" for _, r in cue_reasons("驿站在哪里"))


# --- referrals -----------------------------------------------------------------------------------

def test_deposit_kept_by_own_station_goes_to_labour_inspection() -> None:
    text = "站长收了我500押金，辞职了不退"
    ranked = referrals.rank({"deposit_refund": 0.9}, normalize(text), ents(text), "normal")
    assert ranked[0].target == "labor_inspection"
    assert "第八十四条" in ranked[0].reason and ranked[0].evidence


def test_deposit_kept_by_rental_shop_goes_to_market_regulation_and_fraud_to_police() -> None:
    shop = "租车行不退电动车押金"
    assert referrals.rank({"deposit_refund": 0.9}, normalize(shop), ents(shop), "normal")[0].target == "market_regulation"
    fraud = "租车行老板卷款跑路了，押金拿不回"
    assert referrals.rank({"deposit_refund": 0.9}, normalize(fraud), ents(fraud), "normal")[0].target == "police"


def test_emergency_injury_puts_ambulance_first() -> None:
    text = "被车撞了流了好多血"
    ranked = referrals.rank({"traffic_accident": 0.9, "injury": 0.8}, normalize(text), ents(text), "emergency")
    assert ranked[0].target == "ambulance" and ranked[0].contact == "120"


# --- the label space agrees with the spec ----------------------------------------------------------

def _spec_ids(section: str) -> list[str]:
    path = SHARED / "spec" / "taxonomy.md"
    if not path.exists():
        pytest.skip("taxonomy spec not beside the repo (../shared)")
    text = path.read_text(encoding="utf-8").split(f"## {section}")[1].split("\n## ")[0]
    return re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M)


def test_taxonomy_matches_the_spec() -> None:
    assert issue_types() == _spec_ids("Issue types")
    assert urgency_levels() == _spec_ids("Urgency")
    assert referral_targets() == _spec_ids("Referral targets")


def test_referral_rules_use_only_known_ids() -> None:
    data = load_yaml("referral_rules.yaml")
    for rule in data["rules"]:
        assert rule["target"] in data["targets"]
        assert set(rule["issue_types"]) <= set(issue_types())
