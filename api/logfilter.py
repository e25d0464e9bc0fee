"""Personal data never reaches a log line: every handler masks the formatted message."""

from __future__ import annotations

import logging

from triage.pii import mask


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the record as it is
            return True
        masked = mask(message).text
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Exception messages can quote input; keep the type and traceback, mask the message.
            exc = record.exc_info[1]
            text = str(exc)
            if mask(text).text != text:
                record.exc_info = None
                record.msg = f"{record.msg} ({type(exc).__name__}: {mask(text).text})"
        return True


def install_masking() -> None:
    handlers = list(logging.getLogger().handlers)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        handlers += logging.getLogger(name).handlers
    for h in handlers:
        if not any(isinstance(f, MaskingFilter) for f in h.filters):
            h.addFilter(MaskingFilter())
