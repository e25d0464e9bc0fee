"""What a worker is told on WeChat, in plain words. Contacts come from settings (hotline.assist.Contacts);
the emergency numbers are the assistant's own list."""

from __future__ import annotations

from hotline.assist import EMERGENCY_CONTACTS, Contacts, PublishedEntry, WorkerAnswer
from triage.referrals import targets as referral_targets

ACK = "已收到，工作人员会尽快回复。"
MEDIA_NAMES = {"image": "图片", "voice": "语音", "video": "视频", "shortvideo": "小视频", "location": "位置",
               "link": "链接", "file": "文件"}


def _reach(contacts: Contacts) -> str:
    return f"着急的话可以直接拨打{contacts.hotline}。"


def welcome(contacts: Contacts) -> str:
    return ("你好！这里是工会职工维权服务的智能助手「即时帮」。\n"
            "外卖骑手、快递员、网约车和代驾司机、货车司机遇到欠薪、押金不退、扣款罚款、工伤、封号等问题，"
            "直接把情况发在这里：能答的马上给你办事指引，答不准的会转给工作人员，由真人在这里回复你。\n"
            f"想找人工：{contacts.wechat}，或拨打{contacts.hotline}。\n"
            "遇到危险请先拨打 110（报警）、120（急救）。")


def emergency(out: WorkerAnswer | None, contacts: Contacts) -> str:
    """Danger now: who to call first. Passive suicidal thoughts: a warm message with 12356 and the hotline."""
    if out is not None and out.crisis == "passive":
        lines = [out.message or "", f"心理援助热线 12356；工会热线 {contacts.hotline}。"]
    else:
        lines = ["如果你或身边的人正处在危险中，请先打电话求助，安全第一："]
        lines += [f"{c.number} {c.name}：{c.when}" for c in (out.emergency_contacts if out else EMERGENCY_CONTACTS)]
    lines.append("你的消息已经转给工作人员，会尽快联系你。")
    if out is not None and out.answers:
        entry = out.answers[0].entry
        lines.append(f"另外，关于「{entry.title}」：{entry.worker_answer}")
    return "\n".join(lines)


def _entry_lines(entry: PublishedEntry) -> list[str]:
    lines = [f"【{entry.title}】", entry.worker_answer]
    if entry.steps:
        lines.append("怎么做：")
        lines += [f"{i}. {s}" for i, s in enumerate(entry.steps, 1)]
    targets = referral_targets()
    places = [t for t in entry.referrals if t in targets]
    if places:
        lines.append("可以找：" + "；".join(f"{targets[t]['name']} {targets[t]['contact']}" for t in places))
    return lines


def answer(entry: PublishedEntry, contacts: Contacts) -> str:
    """A published entry in the worker's voice, where to go, and how to get a person."""
    lines = _entry_lines(entry)
    lines.append(f"（资料截至 {entry.as_of}）这个回答没解决你的问题？直接回复说明情况，工作人员会看到。{_reach(contacts)}")
    return "\n".join(lines)


def likely(out: WorkerAnswer, contacts: Contacts) -> str:
    """Only probably right: say so, give the best entry, ask the clarifying question, and say a person will
    also look (the message joins the operators' queue)."""
    lines = [out.clarify.question if out.clarify else "下面的内容可能对你有帮助，不一定完全符合你的情况："]
    if out.clarify:
        lines.append("（直接回复说明，比如“" + out.clarify.options[1].label + "”）先给你最可能有用的一条：")
    lines += _entry_lines(out.answers[0].entry)
    lines.append(f"（资料截至 {out.answers[0].entry.as_of}）工作人员也会看一下你的情况，有需要会在这里回复你。"
                 f"{_reach(contacts)}")
    return "\n".join(lines)


def queued(contacts: Contacts) -> str:
    """No good answer: say so, and that the message is now a case a person will answer."""
    return (f"{ACK}\n这个问题我们没有把握准确回答，已经转给工作人员（已登记为待处理个案），回复会发到这里。"
            f"{_reach(contacts)}")


def joined(contacts: Contacts) -> str:
    """A follow-up message added to a case already waiting for a person."""
    return f"{ACK}你补充的内容已经加到同一条记录里。{_reach(contacts)}"


def media(kind: str, contacts: Contacts) -> str:
    name = MEDIA_NAMES.get(kind, "消息")
    return f"{ACK}（收到你发来的{name}）方便的话，也请用文字简单说一下遇到了什么问题。{_reach(contacts)}"


def not_saved(contacts: Contacts) -> str:
    """Something failed before the message was stored: be honest so the worker sends it again."""
    return f"抱歉，系统一时出了问题，这条消息没有保存成功，请稍后再发一次。{_reach(contacts)}"
