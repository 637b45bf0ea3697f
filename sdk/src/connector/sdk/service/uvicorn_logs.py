"""uvicorn's own log lines ("Invalid HTTP request received.", a worker that died) as the
service's JSON lines on stderr: an operator's log collector reads one format, whatever
wrote the line. (uvicorn's default configuration printed them as plain text.)"""

from __future__ import annotations

from typing import Any


def log_config() -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's loggers (each worker applies it), with
    the request log's JSON formatter (``app.JsonLine``)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "connector.sdk.service.app.JsonLine"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
