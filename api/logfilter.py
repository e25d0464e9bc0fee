"""Personal data never reaches a log line: every handler masks the formatted message."""

from __future__ import annotations

import logging
import re

from triage.pii import mask as mask_pii

# WeChat puts the worker's openid (and outbound calls an access token) in query strings; access logs would keep them.
_QUERY_SECRETS = re.compile(r"\b(openid|access_token|secret|echostr)=[^&\s\"']+")


def scrub(text: str) -> str:
    """Personal data and query-string identifiers replaced by placeholders."""
    return _QUERY_SECRETS.sub(r"\1=[已隐藏]", mask_pii(text).text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the record as it is
            return True
        masked = scrub(message)
        if masked != message and isinstance(record.args, tuple) and record.args:
            # Mask each argument and keep the tuple: uvicorn's access formatter unpacks it (client, method, path ...).
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
            if isinstance(record.msg, str):
                record.msg = scrub(record.msg)
            try:
                message = record.getMessage()
            except Exception:
                message = ""
            masked = scrub(message)
        if masked != message:  # a span across the template and an argument: keep the masked line only
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Exception messages can quote input; keep the type and traceback, mask the message.
            exc = record.exc_info[1]
            text = str(exc)
            if scrub(text) != text:
                record.exc_info = None
                record.msg = f"{record.msg} ({type(exc).__name__}: {scrub(text)})"
        return True


def install_masking() -> None:
    handlers = list(logging.getLogger().handlers)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        handlers += logging.getLogger(name).handlers
    for h in handlers:
        if not any(isinstance(f, MaskingFilter) for f in h.filters):
            h.addFilter(MaskingFilter())
