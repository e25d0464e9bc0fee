"""What a worker is told on WeChat, in plain words. Contacts come from settings (hotline.assist.Contacts);
the emergency numbers are the assistant's own list."""

from __future__ import annotations

from typing import Any

from hotline.assist import EMERGENCY_CONTACTS, Contacts

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


def emergency(answer: dict[str, Any] | None, contacts: Contacts) -> str:
    lines = ["如果你或身边的人正处在危险中，请先打电话求助，安全第一："]
    lines += [f"{c['number']} {c['name']}：{c['when']}" for c in EMERGENCY_CONTACTS]
    lines.append("你的消息已经转给工作人员，会尽快联系你。")
    if answer is not None:
        lines.append(f"另外，关于「{answer['title']}」：{answer['text']}")
    return "\n".join(lines)


def answer(ans: dict[str, Any], contacts: Contacts) -> str:
    """A published entry in the worker's voice, where to go, and how to get a person."""
    lines = [f"【{ans['title']}】", ans["text"]]
    steps = ans.get("steps") or []
    if steps:
        lines.append("怎么做：")
        lines += [f"{i}. {s}" for i, s in enumerate(steps, 1)]
    places = ans.get("where_to_go") or []
    if places:
        lines.append("可以找：" + "；".join(f"{p['name']} {p['contact']}" for p in places))
    lines.append(f"（资料截至 {ans['as_of']}）这个回答没解决你的问题？直接回复说明情况，工作人员会看到。{_reach(contacts)}")
    return "\n".join(lines)


def queued(contacts: Contacts) -> str:
    """Not confident: say so, and that a person will answer."""
    return f"{ACK}\n这个问题需要工作人员帮你看一下，回复会发到这里。{_reach(contacts)}"


def joined(contacts: Contacts) -> str:
    """A follow-up message added to a case already waiting for a person."""
    return f"{ACK}你补充的内容已经加到同一条记录里。{_reach(contacts)}"


def media(kind: str, contacts: Contacts) -> str:
    name = MEDIA_NAMES.get(kind, "消息")
    return f"{ACK}（收到你发来的{name}）方便的话，也请用文字简单说一下遇到了什么问题。{_reach(contacts)}"


def not_saved(contacts: Contacts) -> str:
    """Something failed before the message was stored: be honest so the worker sends it again."""
    return f"抱歉，系统一时出了问题，这条消息没有保存成功，请稍后再发一次。{_reach(contacts)}"
