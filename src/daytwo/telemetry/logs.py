"""Structured JSON logs, one object per line, written off the event loop by a listener thread.

Every line passes through the secret redactor: a credential that slips into a message or an
``extra`` field is replaced by ``[REDACTED]`` before it is written.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import time
from typing import Any, TextIO

import orjson

from daytwo.core.secrets import SecretRegistry

_STD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: SecretRegistry) -> None:
        super().__init__()
        self._redact = secrets.redact

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return self._redact(orjson.dumps(out, default=str).decode())


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: SecretRegistry) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = secrets.redact

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STD_ATTRS and not k.startswith("_") and v is not None
        )
        line = super().format(record)
        return self._redact(f"{line} {extras}" if extras else line)


def configure_logging(
    secrets: SecretRegistry,
    *,
    level: str = "info",
    fmt: str = "json",
    stream: TextIO | None = None,
) -> logging.handlers.QueueListener:
    """Route the ``daytwo`` (and uvicorn) loggers through a queue to one stderr writer thread.

    Returns the listener; stop it at shutdown to flush.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(q, handler, respect_handler_level=False)
    qhandler = _FastQueueHandler(q)
    for name in ("daytwo", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [qhandler]
        logger.propagate = False
        logger.setLevel(level.upper())
    listener.start()
    return listener


def set_level(level: str) -> None:
    logging.getLogger("daytwo").setLevel(level.upper())


class _FastQueueHandler(logging.handlers.QueueHandler):
    """Hands the record over untouched; formatting (and redaction) happens on the writer thread."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record
