"""Normalisation, segmentation, entities, deadlines, urgency cues and referral rules (no model needed)."""

import re
from datetime import date, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import SHARED
from triage import danger, deadlines, referrals
from triage.entities import extract
from triage.errors import TextError
from triage.lexicon import load_yaml
from triage.normalize import check_text, normalize
from triage.segment import Segmenter
from triage.situation import situation
from triage.taxonomy import issue_types, referral_targets, urgency_levels
from triage.pipeline import close_deadlines
from triage.urgency import assess, cue_reasons

NOW = datetime(2026, 11, 29, 10, 0)


def ents(text: str):
    return extract(normalize(text), NOW)


# --- normalisation and segmentation --------------------------------------------------------------

def test_normalize_folds_fullwidth_traditional_and_cantonese() -> None:
    assert normalize("點解我嘅押金仲未退？ＡＰＰ話冇") == "为什么我的押金还未退?app话没有"
    assert normalize("佢哋而家喺度打我") == "他们现在在度打我"


@pytest.mark.parametrize(("text", "folded"), [
    ("劳动仲裁唔使钱㗎", "劳动仲裁不用钱㗎"),  # 仲 -> 还 must not turn arbitration into 还裁
    ("仲裁输咗，我仲可唔可以再告？几耐之内要搞", "仲裁输了,我还可不可以再告?多久之内要搞"),
    ("嗰啲人", "那些人"),  # opencc writes 嗰 as 𠮶 before the table runs
    ("點樣申請勞動仲裁", "怎样申请劳动仲裁"),
    ("驿站有冇得叉电", "驿站有没得充电"),
])
def test_cantonese_folding_keeps_mandarin_words_whole(text: str, folded: str) -> None:
    assert normalize(text) == folded


@pytest.mark.parametrize("text, fixed", [
    ("仲才要多久才有结果", "仲裁要多久才有结果"), ("公伤认定要什么材料", "工伤认定要什么材料"), ("有没有加斑费", "有没有加班费"),
    ("仲才仲未出结果", "仲裁还未出结果"),  # with the Cantonese fold in the same pass
    ("一建报案在app哪里点", "一键报案在app哪里点"),
    ("去工商局登记", "去工商局登记"), ("游戏公会", "游戏公会"),  # real words stay
])
def test_misspelt_key_words_are_read_as_meant(text: str, fixed: str) -> None:
    assert normalize(text) == fixed


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


def test_arbitration_rules_fire_on_normalised_text() -> None:
    """Rules are matched on normalised text: when 仲 was folded to 还 everywhere, no rule naming 仲裁 could fire."""
    text = "上个月1号仲裁已经受理了，到现在还没开庭"
    found = {d.id for d in deadlines.find(["legal_consult"], normalize(text), ents(text), NOW.date())}
    assert "arbitration_award" in found


@pytest.mark.parametrize("text", [
    "去年被辞退了，工资一直没结",          # a whole year: the due date could be anywhere in it
    "我是2023年开始在站点跑的，工资少发了",  # a span from 2023 to now
    "入职交了2000块，现在工资也没发",       # a number read as the year 2000; "现在" is when the message is written
])
def test_vague_or_misread_dates_start_no_clock(text: str) -> None:
    found = deadlines.find(["pay_settlement"], normalize(text), ents(text), NOW.date())
    assert found and all(d.starts is None and d.days_left is None for d in found)


def test_a_month_precise_date_starts_a_clock() -> None:
    text = "去年12月15号被辞退，工资没结"
    found = {d.id: d for d in deadlines.find(["pay_settlement"], normalize(text), ents(text), NOW.date())}
    assert found["labour_arbitration_limitation"].days_left == 16 and found["labour_arbitration_limitation"].is_close


def test_only_the_workers_own_clocks_make_a_message_urgent() -> None:
    """The employer's 30 days to apply for injury recognition is shown but the worker loses nothing by it."""
    text = "今天早上送餐摔伤了手"
    found = {d.id: d for d in deadlines.find(["injury"], normalize(text), ents(text), NOW.date())}
    employer = found["injury_recognition_employer"]
    assert employer.days_left == 30 and not employer.worker_clock and not employer.is_close
    assert close_deadlines(list(found.values())) == []


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

@pytest.mark.parametrize("text, rule", [
    ("唔使担心我 我唔会谂唔开 只系想问押金", "negation"),   # Cantonese: 谂唔开 is 想不开
    ("我冇想死 只系想揾人倾下", "negation"),
    ("来电人否认轻生想法，主要问欠薪", "negation"),
    ("鼻子被车门撞出血了 已经止住了", "resolved"),
    ("老公被车门夹了手 已经在医院包扎好了", "resolved"),
    ("之前俾个醉酒客打过 已经落咗口供", "resolved"),
    ("我冇諗過唔做人，只係想問欠落嘅租車錢", "negation"),     # traditional Cantonese denial
    ("有个阿伯在驿站门口晕倒，救护车已经车咗佢走", "resolved"),  # the ambulance has taken him
    ("同事摔伤了，已经送去医院了，想问工伤怎么报", "resolved"),
    # the operator asked what the heavy words meant; a crash where nobody was hurt; words said in anger
    ("来电女，讲“有时觉得好冇意思”，追问后讲系指盘生意冇意思，唔系指人生", "negation"),
    ("来电人话唔想再拖累屋企，追问系指车贷想一次过还清", "negation"),
    ("部车喺隧道冒烟，拖车已经拖走咗，人冇事", "negation"),
    ("包工头吼要同我拼命，不过佢都系嘴上讲讲", "negation"),
    ("电台主持人讲骑手心理健康，报了12356", "third_party"),
    # "not to jump: I'm on the roof for the washing"; feeling a little better now; a song title
    ("唔系要跳楼呀，我上天台收衫咋", "negation"),
    ("喊完一轮，而家好返少少", "resolved"),
    ("收音机放紧《死都要爱》，跟住唱", "quoted"),
    # "I'm not going to jump", "I wasn't locked up"
    ("我沒有要跳樓啦，只係想問下賠償", "negation"), ("我沒被關起來，只是手機沒電", "negation"),
    # Cantonese denials normalise to 没有 and 给: "I wasn't locked up by anyone"
    ("我冇俾人关住，净系部车冇电", "negation"),
    # a battery manual's warning read out
    ("電池說明書上寫「熱失控」會起火爆炸，是什麼意思", "quoted"),
])
def test_denials_and_treated_injuries_are_read_as_context(text: str, rule: str) -> None:
    """The detector's context features: a denial or a treated injury beside a danger word (the model weighs them)."""
    vec, _ = danger.context(normalize(text))
    offset = len(danger.cue_groups()) + 2
    assert vec[offset + danger.context_groups().index(rule)] == 1.0


@pytest.mark.parametrize(
    "text",
    ["保安正在打我 救命", "我不想活了", "药都买好了，最后一次麻烦你们", "兄弟们我先走了 这辈子跑单跑够了",
     "佢哋而家围住我打", "同事被车撞了倒在地上没反应", "刚刚摔了流了好多血", "電池冒烟了着火了",
     "我准备今晚收工就去做个了断", "有时候觉得带着孩子一起走算了",
     "有时候想如果我不在了，家里人会不会轻松一点", "没有我他们会过得更好", "我就是个累赘",
     "主要问社保，另外最近总觉得活着没什么意思", "活着冇乜意思", "炭喺车入面烧几耐人会瞓着", "后厨石油气喉漏紧，好大阵味",
     "如果我哪天开车出了事，保险赔的钱够把贷款还上，家里也轻松点",
     "想问下仲裁的事，还有就是做人真系冇意义", "有时候想死了就不用再还网贷了", "日日咁辛苦，真係不要活了",
     "常常想如果我不存在了，家里人会不会轻松一点", "我想一了百了", "想了结自己", "今晚就了结此生",
     # putting affairs in order for the family
     "这几天我把银行卡密码和车钥匙都写在纸上放好了，以后她用得着",
     # ... or passed on through the operator; not waking up; "the last time I'll trouble you" as a farewell
     "你帮我话畀老婆知张银行卡密码", "押金退到我妹妹账户吧，之后我应该不方便处理了", "好累，想一睡不醒",
     "有时真想瞓着就唔好再醒", "呢次系最后一次打嚟烦你哋",
     # disappointed to wake up; driving into the river; no more need for money after this week; trapped in a lift
     "早上睁开眼发现自己还活着，有点失望", "真的不想继续活下去了", "有时开着车就想一头冲进江里",
     "押金不退也无所谓了，过完这个月我都不用再用钱", "电梯卡住了，困在里面快透不过气", "困咗喺𨋢度成半个钟",
     # a weapon in hand; stopped on the road for a "toll"
     "几个人手持铁棍围住我的车", "货车在村口被人拦住要买路钱",
     # wishing not to wake tomorrow or that one had not woken; "with or without me it's the same"; giving up treatment;
     # a seizure under way
     "晚晚瞓前都求听朝唔好醒", "早知嗰日唔好醒返", "躺下永远别起来", "这世上有没有我都一样", "有冇我都冇分别", "觉得活著没甚么意思", "成日谂住跳落去", "唔想再捱落去", "乾脆不治了，爛掉算了",
     "佢抽紧筋 成个人震", "同事突然口吐白沫倒地",
     # nobody would notice if I vanished; better not to exist; let heaven take me; repaying in the next life; wishing
     # tomorrow would not come; giving accounts away; standing at a roof's edge
     "要是我哪天不见了 也没人知道", "有时觉得自己死咗都冇人理", "真系不如我消失算了", "老天要收我就收吧",
     "谢谢兄弟们，来世再还", "每晚只想明天别来了", "把游戏账号全部送人了", "天台风好大，我企喺边边望咗好耐"],
)
def test_danger_cue_features_fire(text) -> None:
    vector, reasons = danger.context(normalize(text))
    assert vector[: len(danger.cue_groups())].any(), text
    assert any(r.code in danger.cue_groups() for r in reasons)


@pytest.mark.parametrize("text", ["快被罚死了", "被气死了", "热死了今天", "累死了今天跑了12个小时", "笑死我了", "想死你们了",
                                  "热到死，个头盔入面成个桑拿", "开心死我喇", "塞车塞到死，三单全超时"])
def test_intensifier_death_is_not_a_cue(text) -> None:
    vector, reasons = danger.context(normalize(text))
    cues = len(danger.cue_groups())
    assert not vector[:cues].any(), text  # the cue inside 累死 / 想死你们 does not count
    assert any(r.code == "intensifier" for r in reasons)


@pytest.mark.parametrize("text", ["轮胎漏气了，推着车走了两公里", "烧烤炭买好了，今晚驿站聚餐", "这部电影没什么意思",
                                  "如果我出事了保险赔多少", "要是我出车祸了赔偿金够不够", "这样申诉有意义吗",
                                  "电动车送修了就不用付租金吗", "车走了就不用交停车费了吧",
                                  # settling a dispute or a debt once and for all
                                  "想把和车行的纠纷一了百了地解决", "工伤赔偿能不能一次性了结", "想尽快了结这宗官司",
                                  "欠款想一次过了结，可以分期吗",
                                  # a joke, not a farewell; a password kept for oneself
                                  "来电人笑说最后一次麻烦你们，下不为例", "银行卡密码写在本子上了，以后忘了好查",
                                  # money "no longer needed" for one purchase; pressure "taking the breath away"
                                  "过了这个月就不用再用钱买电池了", "交完押金以后不用再用钱了吧？", "压力大到喘不过气",
                                  # an early start, a leg cramp, a kitchen knife
                                  "明天不用醒那么早", "明天别起床那么早", "腿抽筋了好痛", "别吵醒他", "阿妈拿刀杀鸡",
                                  # a boss's "明天别来了", delivering everything, a phone nobody noticed missing,
                                  # "you're done for", a debt paid off once and for all
                                  "站长说你明天别来了", "东西都送完了今天收工", "手机不见了都没人管", "站长话你死梗喇",
                                  "想一次还清一了百了",
                                  # the nail that sticks out; a car with a flat battery stuck in a car park
                                  "新人唔好硬碰，枪打出头鸟", "车子电瓶没电，被困在地下停车场出不去"])
def test_everyday_words_near_the_cues_are_not_cues(text) -> None:
    vector, _ = danger.context(normalize(text))
    assert not vector[: len(danger.cue_groups())].any(), text


@pytest.mark.parametrize("text, word", [
    ("我不是想自杀，只是太累了", "自杀"), ("来电人否认轻生想法，主要问欠薪", "轻生"), ("我唔会自杀嘅 唔使担心", "自杀"),
    ("从来没想过跳楼，就是想问工伤", "跳楼"), ("我不想死 我就想活得像个人", "想死"),
    ("我冇谂过自杀 净系想投诉个平台", "自杀"),
])
def test_a_cue_denied_where_it_stands_is_not_a_cue(text: str, word: str) -> None:
    n = normalize(text)
    vector, reasons = danger.context(n)
    cues = len(danger.cue_groups())
    assert not vector[:cues].any() and vector[cues + 1] == 1.0, text  # "only denied" is its own feature
    assert any(r.code == "denied_cue" for r in reasons)
    assert word not in danger.neutralise(n)  # nor do its characters reach the word features


@pytest.mark.parametrize("text", [
    "真的受不了想死", "不如死了算了", "没钱了想死", "叫他不要跳楼 他站在天台边上",
    "我不想死 但是真的撑不下去了",  # a denial next to a wish to die: the wish still counts
])
def test_a_denial_nearby_does_not_hide_a_cue_it_does_not_deny(text: str) -> None:
    vector, reasons = danger.context(normalize(text))
    assert vector[: len(danger.cue_groups())].any(), text
    assert any(r.code == "self_harm" for r in reasons)


@pytest.mark.parametrize(
    "text", ["快被罚死了", "被气死了", "热死了今天", "压力好大但还能撑", "撞单了怎么办", "我和同事一起走路送餐"]
)
def test_without_the_detector_nothing_is_an_emergency(text) -> None:
    # Urgency alone never says emergency: danger now is the detector's call (triage/danger.py).
    assert assess(normalize(text), ents(text)).level != "emergency"


@pytest.mark.parametrize("text, kind", [
    ("来电人称目前在工业园宿舍楼顶，说再要不回运费就跳下去", "self_harm_active"),
    ("我而家喺天台度，唔想再捱落去", "self_harm_active"), ("活着没意思，药我都攒好了", "self_harm_active"),
    ("已经吃了一板安眠药", "self_harm_active"), ("撑不下去了，今晚就一了百了", "self_harm_active"),
    # thoughts without a place, the means or a time at hand stay passive ideation (12356 first, not 110)
    ("有时候想从楼顶跳下去算了", "self_harm_passive"), ("觉得活着好累，不想再醒", "self_harm_passive"),
])
def test_a_place_means_or_time_at_hand_makes_passive_ideation_danger_now(text: str, kind: str) -> None:
    passive = np.eye(len(danger.KINDS))[danger.KINDS.index("self_harm_passive")]
    verdict = danger.decide(0.9, passive, 0.5, [], normalize(text))
    assert verdict.kind == kind and verdict.level == ("now" if kind == "self_harm_active" else "passive"), text
    assert any(r.code == "imminent_self_harm" for r in verdict.reasons) == (kind == "self_harm_active")


def test_a_danger_now_cue_overrides_passive_ideation_the_kind_model_read_without_its_words() -> None:
    # Roadside extortion with clubs was read as passive ideation (12356 first); the cue says violence, so 110 first.
    passive = np.eye(len(danger.KINDS))[danger.KINDS.index("self_harm_passive")]
    text = normalize("货车在县道被几个人拦下索要过路费，对方手持木棍，我锁了车坐在里面")
    verdict = danger.decide(0.9, passive, 0.5, danger.context(text)[1], text)
    assert verdict.kind == "violence_now" and verdict.level == "now"
    # with the words of a wish to die the reading stays passive ideation
    text = normalize("有时想把自己锁在房里永远不出来，活着没意思")
    verdict = danger.decide(0.9, passive, 0.5, danger.context(text)[1], text)
    assert verdict.kind == "self_harm_passive" and verdict.level == "passive"


def test_the_detectors_verdict_makes_an_emergency_with_its_reasons() -> None:
    text = "我不想活了"
    d = danger.decide(0.9, np.eye(len(danger.KINDS))[danger.KINDS.index("self_harm_active")], 0.5,
                      danger.context(normalize(text))[1])
    u = assess(normalize(text), ents(text), "normal", danger=d)
    assert u.level == "emergency" and u.reasons[0].source == "danger"
    passive = danger.decide(0.9, np.eye(len(danger.KINDS))[0], 0.5, [])
    assert passive.level == "passive" and passive.response == "passive"
    assert danger.decide(0.1, None, 0.5, []).level == "none"


@pytest.mark.parametrize("text", [
    # a sentence of suicidal thought in the middle of a long practical question (the model read them as checks)
    "公司没买工伤保险，法院也执行不到。最近觉得活著没甚么意思，只会拖累一家人。没参保的工伤有个基金可以先垫付吗",
    "屋企还有两万几网贷要还，呢排夜晚经过北街桥，成日谂住跳落去就唔使再捱落去。罚款可唔可以申诉返？",
    "仲裁输咗，阿妈喺乡下住院等钱用，我真系好攰，唔知仲有冇意思，唔想再捱落去。去法院告要几多钱？",
    "这个月倒欠网点三百多 有时候骑着车就想直接冲进江里算了 网点这样扣钱合法吗",
    "不想活了，押金的事你们帮我问问吧",
    # an injury the year before last is over; the thought in the next sentence is not
    "我前年出了工伤，右腿截肢，官司赢了也执行不到。最近觉得活着没什么意思，只会拖累一家人。听说有个基金可以先垫付？",
])
def test_words_of_suicidal_thought_are_passive_ideation_whatever_the_model_reads(text: str) -> None:
    n = normalize(text)
    verdict = danger.decide(0.05, None, 0.5, danger.context(n)[1], n, check_threshold=0.02)
    assert verdict.level == "passive" and verdict.kind == "self_harm_passive", text
    assert any(r.code == "strong_self_harm" for r in verdict.reasons)
    assert verdict.probability == 0.05  # the model's own reading is still shown


@pytest.mark.parametrize("text", [
    "早两年我都试过成日谂住唔想活，后来睇咗医生食咗药，而家稳定咗好多",  # over, treated
    "我冇谂住跳落去，系喺桥头度等客",  # denied where it stands
    "来电人称调度员电话里说'你不想活了是不是，敢拒单'，属训斥用语",  # quoted
    "司机话琴晚睇电视讲有货车司机疲劳驾驶冲落海，觉得呢行好高危",  # news
    "累到不想活，不过今日奖金到手",  # an intensifier
    "不想再挨骂了，站长天天在群里点名",  # being scolded, not living
    "上次参加活动不想再活动了",  # 活动 is an activity
    "我说不想活了不是那个意思哈 是不想再这样活了 想问驾照培训补贴",  # taken back at once
    "新闻说有个司机被欠薪三个月。他留言说活着没意思，就开车冲进江里了。",  # someone else's story, sentences apart
])
def test_those_words_explained_away_by_context_are_left_to_the_model(text: str) -> None:
    n = normalize(text)
    assert danger.decide(0.05, None, 0.5, danger.context(n)[1], n).level == "none", text


def test_the_safety_check_band_asks_one_question_and_raises_nothing() -> None:
    from hotline.assist import SAFETY_CHECK, SUPPORT, operator_guidance, support_note

    text = "最近睡不着，总觉得心里空落落的"
    d = danger.decide(0.3, np.eye(len(danger.KINDS))[0], 0.5, [], normalize(text), check_threshold=0.2)
    assert d.level == "none" and d.check and d.response is None
    assert assess(normalize(text), ents(text), "normal", danger=d).level != "emergency"
    assert operator_guidance(d) == SAFETY_CHECK
    assert support_note(SimpleNamespace(danger=d, labels=[])) == SUPPORT  # a worker sees where support is
    assert not danger.decide(0.1, None, 0.5, [], check_threshold=0.2).check  # below the band
    assert not danger.decide(0.9, None, 0.5, [], check_threshold=0.2).check  # above it: an emergency instead
    assert not danger.decide(0.3, None, 0.5, []).check  # a model trained before the band never checks
    assert not danger.decide(0.3, None, 0.5, [], "好的", check_threshold=0.2).check  # a pleasantry never does


def test_a_check_follows_the_kind_of_danger_its_cue_words_name() -> None:
    from hotline.assist import SAFETY_CHECK, SAFETY_CHECK_FOR, SUPPORT, SUPPORT_FOR, operator_guidance, support_note

    def check(text: str) -> danger.Danger:
        # The kind model leans to a threat to life for every text: a check must not follow it.
        leaning = np.eye(len(danger.KINDS))[danger.KINDS.index("threat_to_life")]
        return danger.decide(0.3, leaning, 0.5, danger.context(normalize(text))[1], normalize(text), check_threshold=0.2)

    injury = check("朋友摔车了现在吐血")
    assert injury.check and injury.check_kind == "acute_injury" and injury.check_response == "injury"
    assert operator_guidance(injury) == SAFETY_CHECK_FOR["injury"] and "120" in operator_guidance(injury)
    assert support_note(SimpleNamespace(danger=injury, labels=[])) == SUPPORT_FOR["injury"]
    venting = check("今天跑了12个小时累死了")
    assert venting.check and venting.check_kind is None  # no cue word: the general question, rest and 12356
    assert operator_guidance(venting) == SAFETY_CHECK and support_note(SimpleNamespace(danger=venting, labels=[])) == SUPPORT
    assert "110" in SUPPORT_FOR["violence"] and check("他拿着刀在楼下").check_response == "violence"


def test_close_deadline_raises_urgency_with_reason() -> None:
    u = assess("工资没发", ents("工资没发"), "normal", ["劳动仲裁时效（1年）：剩 5 天"])
    assert u.level == "high" and u.reasons[0].source == "deadline"


@pytest.mark.parametrize("text", [
    "架车俾交警扣咗，话我冇上牌",        # Cantonese word order: the vehicle held
    "平台凍結賬戶，扣保證金500",         # traditional: the account frozen
    "我个账号俾人停咗七日",
    "我阿仔跑外卖俾车撞亲，而家喺医院",  # in hospital now
    "前天摔了一跤，手腕骨裂打了石膏",    # a fracture by another name
    "膝盖缝了六针，跑不了单",
    "車輛暫扣於停車場，貨主還要我賠",      # traditional: the vehicle held
    "我个account被封咗三日",              # Cantonese: the account banned
    "车行扣住我身份证，唔赔钱唔还",        # papers held
    "二房东断水断电逼我今天搬走",          # put out of a home
    "下周三仲裁开庭，我还没有律师",        # the hearing is days away
    "房东叫我们三天内搬走，押金也不退",    # put out of a home at short notice
    "業主今朝話我後日要搬走，按金唔退",    # Cantonese, traditional: the day after tomorrow
    "房东要我本月底前搬走，只剩一周",
    "仲裁输了，听说十五天内可以起诉，现在只剩一个礼拜",  # only a week of a time limit left
])
def test_taxonomy_high_situations_in_any_wording(text: str) -> None:
    """The taxonomy's high: vehicle detained, income cut off (a ban or a suspension), serious injury."""
    norm = normalize(text)
    assert assess(norm, ents(text), "normal").level == "high"


@pytest.mark.parametrize("text", [
    "每天跑到半夜，腰都要断了",        # hyperbole, not a break
    "社保断了大概六年，还能补交吗",    # contributions stopped
    "工伤认定下来了，公司不给停工留薪期的工资",  # 停工留薪 is a benefit, not a strike
    "小区不让进，影响配送时效",        # delivery time, not a limitation period
    "前天被推了一下，去医院看了，没事",  # a visit that is over
    "我手机快被打爆了，一天几十个催单电话",  # calls, not blows
    "明年想搬走，租房合同怎么解除",        # a move planned, not an eviction
])
def test_words_that_only_look_serious_raise_nothing(text: str) -> None:
    assert assess(normalize(text), ents(text), "normal").level == "normal"


def test_low_urgency_for_information_requests() -> None:
    assert assess(normalize("怎么入会"), ents("怎么入会")).level == "low"
    assert assess(normalize("怎么入会"), ents("怎么入会"), "normal").level == "low"  # information beats the model's normal
    assert any(r.code == "information" for _, r in cue_reasons("驿站在哪里"))


def test_a_polite_opener_does_not_make_a_dispute_an_information_question() -> None:
    """想问一下 / 咨询一下 open complaints as often as questions: the model's normal stands."""
    text = "我想问一下，顾客说没收到餐投诉我，平台扣了我五十块，我明明拍了照片"
    assert not any(lvl == "low" for lvl, _ in cue_reasons(normalize(text)))
    assert assess(normalize(text), ents(text), "normal").level == "normal"


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


def _now(kind: str) -> danger.Danger:
    level = "passive" if kind == "self_harm_passive" else "now"
    return danger.Danger(level, kind, 0.9)


def _first(scores: dict[str, float], text: str, urgency: str = "normal", d: danger.Danger | None = None) -> str:
    return referrals.rank(scores, normalize(text), ents(text), urgency, d)[0].target


@pytest.mark.parametrize("scores, text, door", [
    # wages owed by a contractor who vanished: still wage arrears; money paid to a fake agency that vanished: police
    ({"pay_settlement": 0.9}, "网点承包人跑路了，我们12个人三个月工资没发", "labor_inspection"),
    ({"pay_settlement": 0.9, "labor_relation": 0.5}, "站长上个月底失联，11月工资一直没发，代理商电话没人接", "labor_inspection"),
    ({"deposit_refund": 0.9}, "交了入职服务费和押金给一家代理公司，交完钱对方跑路了", "police"),
    # gear forced on a renter is about the money; an injury story naming a wrong-way e-bike is not a traffic-rules question
    ({"deposit_refund": 0.9}, "租车嗰阵逼我买埋头盔同雨衣，话系套餐，而家唔租可唔可以退", "market_regulation"),
    ({"injury": 0.9}, "为了躲逆行的电动车摔倒骨折，已经拿到职业伤害确认结论书，后遗症怎么办", "union_lawyer"),
    # a gear fee on leaving the job: the employer
    ({"deposit_refund": 0.9}, "离职了 装备费300能退吗", "labor_inspection"),
    # asking how to apply for legal aid; the road-accident relief fund is not hardship aid; a member's birthday gift
    ({"pay_settlement": 0.8, "legal_consult": 0.6}, "我是外地来的骑手，想申请法律援助讨工资，要不要开收入证明？", "legal_aid"),
    ({"traffic_accident": 0.9, "injury": 0.7}, "被车撞了对方逃逸，交警说查不到可以找救助基金垫付", "traffic_police"),
    ({"union_service": 0.8}, "问会员生日慰问怎么领", "union_membership"),
    # a fake agent who took money and blocked the payer; threats for going to the union; the union's lawyers asked about
    ({"labor_relation": 0.3}, "有个人说能帮我办骑手证，收了300块之后就把我拉黑了，是不是被骗了", "police"),
    ({"labor_relation": 0.3}, "队长放话谁去找工会维权就封谁的号，我们还能去吗", "union_lawyer"),
    ({"union_service": 0.6}, "工会的律师咨询要不要预约？晚上有人吗", "union_lawyer"),
])
def test_the_door_follows_the_situation(scores: dict[str, float], text: str, door: str) -> None:
    assert _first(scores, text) == door


def test_emergency_injury_puts_ambulance_first() -> None:
    text = "被车撞了流了好多血"
    ranked = referrals.rank({"traffic_accident": 0.9, "injury": 0.8}, normalize(text), ents(text), "emergency",
                            _now("acute_injury"))
    assert ranked[0].target == "ambulance" and ranked[0].contact == "120"


def test_an_injury_already_in_hospital_is_not_sent_to_120() -> None:
    assert _first({"traffic_accident": 0.9, "injury": 0.8}, "上周送餐被车撞了，现在在医院住院，对方不肯赔", "high") \
        in ("traffic_police", "injury_recognition")


def test_passive_ideation_gets_12356_first_and_never_110() -> None:
    text = "封号一个月了，欠了一屁股债，有时候觉得活着没意思"
    ranked = referrals.rank({"platform_rules": 0.8, "mental_crisis": 0.6}, normalize(text), ents(text), "emergency",
                            _now("self_harm_passive"))
    assert ranked[0].target == "mental_health" and "12356" in ranked[0].contact
    assert "police" not in [r.target for r in ranked] and "直接询问" in ranked[0].reason


def test_death_at_work_refers_survivors() -> None:
    assert _first({"injury": 0.7, "family_hardship": 0.5}, "我老公在站点上班时突然倒下，抢救无效去世了，公司不管") == \
        "injury_recognition"


def test_school_place_goes_to_the_education_bureau() -> None:
    assert _first({"family_hardship": 0.8}, "孩子明年要上小学，我们是外地户口跑外卖的，学位怎么申请") == "education_bureau"


def test_landlords_deposit_goes_to_mediation_not_market_regulation() -> None:
    text = "房东不退我租房押金两千块"
    ranked = [r.target for r in referrals.rank({"deposit_refund": 0.9}, normalize(text), ents(text), "normal")]
    assert ranked[0] in ("mediation", "citizen_hotline") and "market_regulation" not in ranked
    # the owner (业主) who lets the flat, and an eviction at short notice, are the landlord too
    for text in ("業主今朝話我後日要搬走，按金1500唔退，我同佢簽咗一年", "二房东叫我们下周搬走，押金不退"):
        ranked = [r.target for r in referrals.rank({"deposit_refund": 0.9}, normalize(text), ents(text), "high")]
        assert ranked[0] in ("mediation", "citizen_hotline") and "market_regulation" not in ranked, text


def test_a_guard_holding_a_bike_key_for_money_goes_to_the_police_or_the_property() -> None:
    text = "小区保安把我电动车钥匙拔了，要我给50块才还"
    assert _first({"deposit_refund": 0.5, "access_environment": 0.6}, text) in ("police", "property_association")


def test_helmet_rules_go_to_traffic_police() -> None:
    assert _first({"legal_consult": 0.6}, "骑电动车送外卖不戴头盔会被罚吗") == "traffic_police"
    # A helmet in a gear-fee or deposit dispute is about the money.
    assert _first({"deposit_refund": 0.8}, "车行说我头盔没还要赔200，押金就这样被扣了") != "traffic_police"
    assert _first({"deposit_refund": 0.8}, "入职交了装备费450元（含头盔、餐箱），站长说离职不退") == "labor_inspection"


def test_someone_hit_by_a_guard_goes_to_the_police_before_the_property() -> None:
    text = "小区门口跟保安吵了几句，保安推搡我，把我推倒了，手肘擦伤"
    assert _first({"safety_conflict": 0.8, "access_environment": 0.6}, text) == "police"
    assert _first({"access_environment": 0.8}, "小区保安不让骑手进，只能走路送上去") == "property_association"
    # pushed over, and asking whether to call the police
    assert _first({"safety_conflict": 0.6, "access_environment": 0.7}, "啱啱畀保安推跌咗 要唔要報警") == "police"


def test_a_platform_payout_goes_to_the_platform_and_freight_to_a_lawyer_not_labour_inspection() -> None:
    assert _first({"pay_settlement": 0.8}, "众包跑了半年，提现三天了还没到账，客服说在审核") == "platform_enterprise"
    assert _first({"pay_settlement": 0.8}, "货主拖了我三千多运费一直不给，怎么拿回来") == "union_lawyer"
    # a station's own deductions stay with labour inspection
    assert _first({"pay_settlement": 0.8}, "站长这个月扣了我八百工资，说是差评罚款") == "labor_inspection"


def test_how_long_to_apply_for_arbitration_goes_to_arbitration_but_a_lost_award_does_not() -> None:
    assert _first({"pay_settlement": 0.8, "labor_relation": 0.5}, "离职快一年了工资还欠着，仲裁时效过了吗") == \
        "labor_arbitration"
    assert _first({"pay_settlement": 0.8}, "公司不服仲裁裁决去法院起诉了，我要怎么办") != "labor_arbitration"


def test_helmet_money_is_a_fee_dispute() -> None:
    assert _first({"deposit_refund": 0.8}, "站点收的头盔钱 离职能退吗") == "labor_inspection"
    assert _first({"legal_consult": 0.6}, "离职还头盔又扣我45块折旧费") != "traffic_police"


def test_children_at_school_in_a_hardship_story_is_hardship_not_enrolment() -> None:
    assert _first({"family_hardship": 0.9}, "丈夫尿毒症要透析，两个孩子上小学，工会有没有困难帮扶") == "union_hardship"
    assert _first({"family_hardship": 0.8}, "家里困难，孩子想转学到江门读书，要什么手续") == "education_bureau"


def test_a_customer_threatening_a_rider_goes_to_the_police_and_weather_not_to_the_property() -> None:
    assert _first({"safety_conflict": 0.7, "platform_rules": 0.5}, "顾客说我记住你了，明天在小区门口等你") == "police"
    assert _first({"access_environment": 0.6, "work_hours": 0.5}, "暴雨天站点还要求正常跑，能不能拒绝出单") != \
        "property_association"
    # a job threat is not a threat to the body
    assert _first({"platform_rules": 0.8}, "站长话我再驳嘴就踢我出群，仲恐吓要罚款") != "police"


def test_criminal_and_family_matters_go_to_legal_aid() -> None:
    assert _first({"out_of_scope": 0.8}, "我弟弟打架被派出所带走了，你们能帮忙请个律师吗") == "legal_aid"


def test_who_pays_if_i_get_hurt_goes_to_a_lawyer_before_an_application() -> None:
    assert _first({"injury": 0.7, "labor_relation": 0.6}, "公司说我们是合作关系，如果我开工受伤谁负责") == "union_lawyer"
    assert _first({"injury": 0.8}, "昨天送餐摔伤了手，骨折了，怎么报工伤") == "injury_recognition"


def test_a_case_before_a_court_or_a_body_already_handling_it_keeps_its_door() -> None:
    assert _first({"pay_settlement": 0.8}, "仲裁书上写终局裁决 公司还能告吗") == "union_lawyer"
    assert _first({"pay_settlement": 0.8}, "已经向法院起诉站点欠薪，开庭后多久出判决") == "union_lawyer"
    assert _first({"legal_consult": 0.7}, "劳动监察已经立案了，说要调查，要多久才有结果") == "labor_inspection"
    assert _first({"legal_consult": 0.7}, "工会律师上礼拜说帮我写申请书，到现在没回") == "union_lawyer"


def test_a_station_keeping_an_id_card_or_docking_pay_goes_to_labour_inspection() -> None:
    assert _first({"labor_relation": 0.7}, "身份证被站点扣着，离职了不给") == "labor_inspection"
    assert _first({"platform_rules": 0.8, "pay_settlement": 0.5}, "站长扣了我全勤奖，说我请假，我有病假条") == \
        "labor_inspection"


def test_asking_for_hardship_aid_outranks_the_injury_it_comes_from() -> None:
    assert _first({"injury": 0.8, "family_hardship": 0.6},
                  "我哥送外卖被撞至今昏迷，家里负担不起医疗费，工会有没有困难帮扶") == "union_hardship"


def test_a_traffic_decision_already_made_is_about_compensation() -> None:
    assert _first({"traffic_accident": 0.9}, "交警调解没谈拢，对方只肯赔三千，我要去法院吗") == "union_lawyer"
    assert _first({"traffic_accident": 0.9, "injury": 0.5}, "事故认定书说我闯红灯负主责，我的伤还能报职业伤害吗") != \
        "traffic_police"


def test_a_refusal_to_pay_a_deposit_is_a_dispute_not_fraud() -> None:
    """Blocked on WeChat after leaving: the employer's deposit goes to labour inspection; absconding goes to police."""
    assert _first({"deposit_refund": 0.9}, "离职后站长不退1000押金，还把我微信拉黑了") == "labor_inspection"
    assert _first({"deposit_refund": 0.9}, "车行老板跑路了，店都关门了，押金找谁要") == "police"


def test_proof_of_employment_goes_to_the_platform_or_station() -> None:
    assert _first({"labor_relation": 0.6}, "孩子上学要我开收入证明，我跑众包的找谁开") == "platform_enterprise"


def test_an_award_the_employer_does_not_pay_goes_to_a_lawyer_for_enforcement() -> None:
    text = "仲裁赢了，裁决书下来一个多月了，公司一分钱都没给"
    assert _first({"pay_settlement": 0.8, "legal_consult": 0.6}, text) == "union_lawyer"


def test_a_recognised_injury_the_employer_will_not_pay_goes_to_a_lawyer_not_recognition() -> None:
    text = "工伤认定下来了，老板说没钱赔，怎么办"
    assert _first({"injury": 0.9}, text) == "union_lawyer"
    assert _first({"injury": 0.9}, "送餐摔断了腿，公司不给报工伤") == "injury_recognition"
    # After the assessment, or a refusal to recognise: benefits or a challenge to the decision, with a lawyer.
    assert _first({"injury": 0.9}, "劳动能力鉴定结果出来了，九级，公司说最多给两万让我签字") == "union_lawyer"
    assert _first({"injury": 0.9, "legal_consult": 0.5}, "收到工伤不予认定决定书一个月了，还能告吗") == "union_lawyer"


def test_compensation_after_the_police_decision_goes_to_a_lawyer_not_122() -> None:
    assert _first({"traffic_accident": 0.9}, "交警认定对方全责，可对方保险公司一直拖着不赔") == "union_lawyer"
    assert _first({"traffic_accident": 0.9}, "刚才送餐被车撞了，对方要私了") == "traffic_police"


def test_a_place_to_rest_goes_to_the_union_stations_and_a_blocked_compound_to_the_property() -> None:
    assert _first({"access_environment": 0.8}, "下雨天没地方避雨，附近有没有驿站可以歇脚") == "union_membership"
    assert _first({"access_environment": 0.8}, "小区保安不让骑手进去，只能走路送上楼") == "property_association"


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
        assert rule["issue_types"] == ["*"] or set(rule["issue_types"]) <= set(issue_types())


# --- situation tags (the reranker compares a query's with an entry's) ---------------------------------------

@pytest.mark.parametrize("text, category, tag", [
    ("业主今朝话我后日要搬走，按金唔退", "counterparty", "landlord"),     # the owner who lets the flat
    ("二房东叫我们下周搬出去", "counterparty", "landlord"),
    ("上次打过你们电话说工伤的事，说会有律师回电话，一个礼拜了都没人打来", "stage", "follow_up"),
    ("来电人再次来电，称上月反映的欠薪仍未解决", "stage", "follow_up"),
    ("上个月在你们热线登记过押金的事，到现在还没人联系我", "stage", "follow_up"),
    ("我阿爸以前喺你哋度打過電話，個律師話會覆佢，兩個禮拜都冇消息", "stage", "follow_up"),  # Cantonese
    ("来电人称打了三次都没人处理，问题是平台扣款", "stage", "follow_up"),
    ("我哋站有个兄弟琴晚车祸走咗，屋企人想问点赔", "stage", "death"),  # died in a crash, said softly
    ("工友上周在工地意外离世", "stage", "death"),
])
def test_situation_tags_in_everyday_wording(text: str, category: str, tag: str) -> None:
    assert tag in situation(normalize(text)).of(category)


@pytest.mark.parametrize("text, category, tag", [
    ("小区业主投诉我送餐太慢", "counterparty", "landlord"),        # a resident, not a landlord
    ("仲裁开完庭一个月了还没消息", "stage", "follow_up"),            # waiting for an award, not for us
    ("顾客打了三次电话催单", "stage", "follow_up"),
])
def test_situation_tags_do_not_fire_on_look_alikes(text: str, category: str, tag: str) -> None:
    assert tag not in situation(normalize(text)).of(category)
