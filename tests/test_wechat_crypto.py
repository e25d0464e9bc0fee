"""WeChat message security and XML, against vectors built from the protocol's rules (tests/wechat_standin.py
implements the platform's side separately) and the one example in the official access guide."""

from __future__ import annotations

import base64
import random
import string
import struct
import threading
from xml.etree.ElementTree import fromstring

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hotline.assist import Contacts
from hotline.wechat import messages
from hotline.wechat.channel import Delivery
from hotline.wechat.crypto import OutboxSeal, SafeMode, aes_key, check_fresh, check_signature, signature
from hotline.wechat.errors import BadCiphertext, BadSignature, MalformedMessage, SealError, StaleTimestamp, WrongAppId
from hotline.wechat.service import WeChat, WeChatConfig
from tests import wechat_standin as platform

RNG = random.Random(20261129)
KEY = "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(43))
OTHER_KEY = "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(43))
APP_ID = "wx1234567890abcdef"
PREFIX = b"0123456789abcdef"
XML = platform.text_message("oAbCdEfGhIjKlMnOpQrStUvWxYz0", "站长扣了我300元押金，怎么办？🙏", 6349323426230210995, 1764400000)


# --- signatures -------------------------------------------------------------------------------------

def test_signature_matches_the_access_guide_example() -> None:
    # 接入指南: Token "AAAAA", timestamp 1714037059, nonce 486452656 -> signature 899cf89e...
    assert signature("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    check_signature("899cf89e464efb63f54ddac96b0a0a235f53aa78", "AAAAA", "1714037059", "486452656")
    check_signature("899CF89E464EFB63F54DDAC96B0A0A235F53AA78", "AAAAA", "1714037059", "486452656")


@pytest.mark.parametrize("given", [None, "", "899cf89e464efb63f54ddac96b0a0a235f53aa79", "签名", "0" * 40])
def test_forged_or_missing_signature_is_refused(given: str | None) -> None:
    with pytest.raises(BadSignature):
        check_signature(given, "AAAAA", "1714037059", "486452656")


def test_msg_signature_covers_the_ciphertext() -> None:
    encrypt = platform.seal(XML, KEY, APP_ID)
    good = platform.sign("tok", "1764400000", "42", encrypt)
    check_signature(good, "tok", "1764400000", "42", encrypt)
    with pytest.raises(BadSignature):  # the same signature does not cover another ciphertext
        check_signature(good, "tok", "1764400000", "42", platform.seal(XML, KEY, APP_ID))
    with pytest.raises(BadSignature):  # nor is the three-part signature enough
        check_signature(platform.sign("tok", "1764400000", "42"), "tok", "1764400000", "42", encrypt)


def test_timestamps_outside_the_window_are_replays() -> None:
    check_fresh("1000", 1000 + 299, 300)
    check_fresh("1000", 1000 - 299, 300)  # a fast sender clock
    for ts, now in (("1000", 1000 + 301), ("1000", 1000 - 301), ("abc", 1000), (None, 1000), ("", 1000)):
        with pytest.raises(StaleTimestamp):
            check_fresh(ts, now, 300)


# --- the AES safe mode ------------------------------------------------------------------------------

def test_the_key_is_the_base64_of_the_encoding_aes_key() -> None:
    assert aes_key(KEY) == base64.b64decode(KEY + "=") and len(aes_key(KEY)) == 32
    for bad in (KEY[:42], KEY + "a", KEY[:42] + "+", KEY[:42] + "好"):
        with pytest.raises(ValueError):
            aes_key(bad)


def test_known_answer_from_the_protocol_rules() -> None:
    ours = SafeMode(KEY, APP_ID).encrypt(XML, random_prefix=PREFIX)
    assert ours == platform.seal(XML, KEY, APP_ID, prefix=PREFIX)
    # Take it apart by hand: AES-256-CBC, IV = key[:16], then prefix | length | xml | app id | PKCS#7 (32).
    key = base64.b64decode(KEY + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = base64.b64decode(ours)
    plain = dec.update(raw) + dec.finalize()
    assert len(raw) % 32 == 0
    pad = plain[-1]
    assert 1 <= pad <= 32 and plain.endswith(bytes([pad]) * pad)
    body = XML.encode()
    assert plain[:16] == PREFIX
    assert plain[16:20] == struct.pack(">I", len(body))
    assert plain[20:20 + len(body)] == body
    assert plain[20 + len(body):-pad] == APP_ID.encode()


@pytest.mark.parametrize("xml", [XML, "<xml/>", "x" * (32 - 20 - len(APP_ID)), "长" * 1000])
def test_round_trips_both_ways(xml: str) -> None:
    mode = SafeMode(KEY, APP_ID)
    assert mode.decrypt(platform.seal(xml, KEY, APP_ID)) == xml
    assert platform.unseal(mode.encrypt(xml), KEY) == (xml, APP_ID)
    assert mode.encrypt(xml) != mode.encrypt(xml)  # a fresh random prefix each time


def test_a_message_for_another_app_is_refused() -> None:
    with pytest.raises(WrongAppId):
        SafeMode(KEY, APP_ID).decrypt(platform.seal(XML, KEY, "wx_another_app_id"))


def _framed(xml: bytes = b"<xml/>") -> bytes:
    return PREFIX + struct.pack(">I", len(xml)) + xml + APP_ID.encode()


@pytest.mark.parametrize("plain", [
    _framed().ljust(64, b"\x00"),  # padding byte 0
    _framed().ljust(63, b"\x00") + bytes([33]),  # padding longer than a block
    _framed().ljust(60, b"\x00") + b"\x01\x02\x03\x04",  # padding bytes disagree
], ids=["zero", "too-long", "inconsistent"])
def test_bad_padding_is_refused(plain: bytes) -> None:
    with pytest.raises(BadCiphertext):
        SafeMode(KEY, APP_ID).decrypt(platform.seal_raw(plain, KEY))


@pytest.mark.parametrize("encrypted", [
    "", "not base64!", "AAAA", base64.b64encode(b"x" * 17).decode(),
    base64.b64encode(b"\x00" * 16).decode(),  # one AES block: not a whole 32-byte padding block
])
def test_garbage_is_refused(encrypted: str) -> None:
    with pytest.raises(BadCiphertext):
        SafeMode(KEY, APP_ID).decrypt(encrypted)


def test_a_length_beyond_the_content_is_refused() -> None:
    framed = PREFIX + struct.pack(">I", 10_000) + b"<xml/>" + APP_ID.encode()
    n = 32 - len(framed) % 32
    with pytest.raises(BadCiphertext):
        SafeMode(KEY, APP_ID).decrypt(platform.seal_raw(framed + bytes([n]) * n, KEY))


def test_another_key_does_not_decrypt() -> None:
    with pytest.raises(BadCiphertext):  # WrongAppId is a BadCiphertext too, should garbage unpad cleanly
        SafeMode(KEY, APP_ID).decrypt(platform.seal(XML, OTHER_KEY, APP_ID))


# --- the XML ------------------------------------------------------------------------------------------

def test_a_text_message_parses() -> None:
    msg = messages.parse(XML.encode())
    assert (msg.from_user, msg.to_user, msg.msg_type, msg.create_time) == (
        "oAbCdEfGhIjKlMnOpQrStUvWxYz0", "gh_jishibang01", "text", 1764400000)
    assert msg.content == "站长扣了我300元押金，怎么办？🙏" and msg.msg_id == "6349323426230210995"


def test_retries_share_a_key_and_the_key_hides_the_openid() -> None:
    a = messages.parse(XML)
    assert a.dedupe_key == messages.parse(XML).dedupe_key and "oAbC" not in a.dedupe_key
    ev1 = messages.parse(platform.event_message("oUser1", "subscribe", 100))
    ev2 = messages.parse(platform.event_message("oUser1", "subscribe", 101))
    ev3 = messages.parse(platform.event_message("oUser2", "subscribe", 100))
    assert len({ev1.dedupe_key, ev2.dedupe_key, ev3.dedupe_key}) == 3
    assert ev1.dedupe_key == messages.parse(platform.event_message("oUser1", "subscribe", 100)).dedupe_key


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
          '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><ToUserName>t</ToUserName><FromUserName>oX</FromUserName>'
          '<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&c;</Content></xml>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><ToUserName>t'
            '</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
            '<Content>&e;</Content></xml>')


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<xml><ToUserName>", LAUGHS.encode(), EXTERNAL.encode(),
    b"<notxml><FromUserName>oX</FromUserName></notxml>",
    b"<xml><FromUserName>oX</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
    b"<xml><ToUserName>t</ToUserName><FromUserName>o X!</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>a</Content></xml>",
    b"<xml><ToUserName>t</ToUserName><FromUserName>oX</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType><Content>a</Content></xml>",
    b"<xml><ToUserName>t</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
    b"<xml><ToUserName>t</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>a</Content><MsgId>1; drop</MsgId></xml>",
], ids=["empty", "text", "unclosed", "entities", "external", "root", "no-to", "bad-openid", "bad-time", "no-content", "bad-msgid"])
def test_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedMessage):
        messages.parse(body)


def test_replies_escape_what_they_carry_and_fit_the_limit() -> None:
    xml = messages.text_reply("oUser", "gh_x", "<b>工资</b> & ]]> 押金", 1764400000)
    root = fromstring(xml)
    assert root.tag == "xml" and root.findtext("Content") == "<b>工资</b> & ]]> 押金"
    assert [c.tag for c in root] == ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content"]
    long = messages.text_reply("oUser", "gh_x", "长" * 5000, 1)
    content = fromstring(long).findtext("Content") or ""
    assert len(content.encode()) <= messages.MAX_REPLY_BYTES and content.endswith("……")
    assert messages.fit("短") == "短"


# --- the service's request checks and replies, end to end (no database needed) ------------------------

def _service(aes: bool = True) -> WeChat:
    config = WeChatConfig(token="tok", app_id=APP_ID, aes_key=KEY if aes else None)
    return WeChat(config, None, None, None, Contacts("热线 12351", "直接留言"))  # type: ignore[arg-type]


def test_safe_mode_post_and_encrypted_reply() -> None:
    svc = _service()
    encrypt = platform.seal(XML, KEY, APP_ID)
    body = f"<xml><ToUserName><![CDATA[gh_jishibang01]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    msg, encrypted = svc.open_post(body.encode(), sig=None, timestamp="1764400000", nonce="7", encrypt_type="aes",
                                   msg_signature=platform.sign("tok", "1764400000", "7", encrypt), now=1764400010)
    assert encrypted and msg.content == "站长扣了我300元押金，怎么办？🙏"
    reply = fromstring(svc.render(msg, "你好", True, 1764400011))
    enc, ts, nonce = root_fields = (reply.findtext("Encrypt"), reply.findtext("TimeStamp"), reply.findtext("Nonce"))
    assert all(root_fields) and reply.findtext("MsgSignature") == platform.sign("tok", ts, nonce, enc)
    inner, app = platform.unseal(enc or "", KEY)
    assert app == APP_ID and fromstring(inner).findtext("Content") == "你好"
    assert fromstring(inner).findtext("ToUserName") == msg.from_user


def test_plain_post_checks_signature_then_time() -> None:
    svc = _service(aes=False)
    ok = dict(sig=platform.sign("tok", "1000", "5"), timestamp="1000", nonce="5", encrypt_type=None, msg_signature=None)
    assert svc.open_post(XML.encode(), now=1000, **ok)[0].msg_id == "6349323426230210995"
    with pytest.raises(StaleTimestamp):
        svc.open_post(XML.encode(), now=2000, **ok)
    with pytest.raises(BadSignature):
        svc.open_post(XML.encode(), now=1000, **{**ok, "nonce": "6"})
    with pytest.raises(BadCiphertext):  # an encrypted post without a configured key
        svc.open_post(XML.encode(), now=1000, **{**ok, "encrypt_type": "aes"})


# --- the outbox seal and the reply hand-over ---------------------------------------------------------

def test_outbox_seal_round_trip_and_tamper() -> None:
    seal = OutboxSeal("secret-one")
    sealed = seal.seal("请到劳动监察大队（0750-3276220）")
    assert "0750" not in sealed and seal.open(sealed) == "请到劳动监察大队（0750-3276220）"
    with pytest.raises(SealError):
        OutboxSeal("secret-two").open(sealed)
    with pytest.raises(SealError):
        seal.open(sealed[:-4] + "AAAA")


def test_delivery_hands_the_reply_over_exactly_once() -> None:
    d = Delivery()
    assert d.fulfil("答复") and d.take() == (True, "答复")
    late = Delivery()
    assert late.take() == (False, None) and late.fulfil("答复") is False
    # Racing: whichever side wins, the reply is delivered by exactly one of them.
    for _ in range(300):
        race = Delivery()
        got: dict[str, object] = {}
        t = threading.Thread(target=lambda r=race: got.__setitem__("thread", r.fulfil("x")))
        t.start()
        ready, _text = race.take()
        t.join()
        assert ready is got["thread"]  # the request delivers it, or the thread learns it must send it itself
