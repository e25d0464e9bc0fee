"""The log filter every handler carries: personal data and WeChat identifiers never reach a log line."""

import logging

from api.logfilter import MaskingFilter


def _filtered(msg: str, args: tuple | None = None) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)
    assert MaskingFilter().filter(record)
    return record.getMessage()


def test_access_log_line_keeps_its_shape_and_loses_the_openid() -> None:
    line = _filtered('%s - "%s %s HTTP/%s" %d',
                     ("127.0.0.1:5000", "POST", "/v1/wechat?signature=ab12&timestamp=1&openid=oX9_ab-CD&nonce=7",
                      "1.1", 200))
    assert "oX9_ab-CD" not in line
    assert line.startswith('127.0.0.1:5000 - "POST /v1/wechat?signature=ab12&timestamp=1&openid=[已隐藏]&nonce=7')
    assert line.endswith(" 200")


def test_phone_in_message_and_in_exception_is_masked() -> None:
    assert _filtered("caller 138 1234 5678 asked") == "caller [手机号] asked"
    try:
        raise ValueError("bad id 11010519491231002X")
    except ValueError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, (ValueError, exc, None))
    MaskingFilter().filter(record)
    assert "11010519491231002X" not in record.getMessage() and record.exc_info is None


def test_order_numbers_and_hotlines_survive() -> None:
    assert _filtered("order 20251103123456789 call 12351") == "order 20251103123456789 call 12351"


def test_every_process_that_configures_logging_masks(tmp_path) -> None:
    """The job worker (`jishibang worker`) logged unmasked lines before: it set up logging without the filter."""
    import subprocess
    import sys

    code = ("import logging; from api.settings import configure_logging, get_settings; "
            "configure_logging(get_settings()); logging.getLogger('kb.builds').info('来电 13800138000 已记录')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"JISHIBANG_DATA_DIR": str(tmp_path), "PATH": ""}, check=True)
    assert "[手机号]" in out.stderr and "13800138000" not in out.stderr, out.stderr
