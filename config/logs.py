"""Structured JSON logs (structlog) for the web tier and the workers alike.

Every line is one JSON object on standard error: `event`, `level`, `logger`, `timestamp`
and whatever the context holds, which `RequestContextMiddleware` fills per request
(`request_id`, then `merchant_id` or `operator`) and the outbox per job (`job`, `batch_id`,
the `request_id` that asked for it). Django's, RQ's and gunicorn's own loggers go through
the same renderer, so a log shipper reads one format.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# The loggers of the background jobs' routine: RQ's worker says "Job OK" and "Result is kept"
# for every job, and the cron jobs (the outbox sweep every OUTBOX_SWEEP_SECONDS) make many.
JOB_LOGGERS = ("rq.worker", "rq.scheduler", "rq.cron", "rq.job", "rq.queue")


def logging_config(level: str, *, json: bool = True, jobs_level: str = "") -> dict[str, Any]:
    """The LOGGING dict: every stdlib logger rendered by structlog, as JSON (or for a
    terminal, when LOG_FORMAT=console). `jobs_level` (LOG_JOBS_LEVEL) sets RQ's own loggers
    apart: `make run` shows only their warnings; the jobs' own log lines are unchanged."""
    renderer = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    jobs = {name: {"level": jobs_level.upper()} for name in JOB_LOGGERS} if jobs_level else {}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # One line per request comes from RequestContextMiddleware, with its context.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
            **jobs,
        },
    }


def logging_config_from_env(level: str = "") -> dict[str, Any]:
    """`logging_config` as the environment asks: LOG_LEVEL, LOG_FORMAT (json, the default,
    or console) and LOG_JOBS_LEVEL (RQ's own loggers; unset: LOG_LEVEL)."""
    return logging_config(
        # Upper case: "info" is as good a level as "INFO" (logging itself takes only the latter).
        (level or os.environ.get("LOG_LEVEL", "INFO")).strip().upper(),
        json=os.environ.get("LOG_FORMAT", "json").strip().lower() != "console",
        jobs_level=os.environ.get("LOG_JOBS_LEVEL", "").strip().upper(),
    )


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


request_logger = structlog.get_logger("payhub.request")


def request_id_of(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it is a sane token (a load balancer's), else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex


def who(request: HttpRequest) -> dict[str, Any]:
    """The merchant (API) or the operator (dashboard) behind a request, once it is known."""
    user = getattr(request, "user", None)
    merchant = getattr(user, "merchant", None)
    if merchant is not None:
        return {"merchant_id": str(merchant.pk)}
    if user is not None and getattr(user, "is_authenticated", False):
        return {"operator": user.get_username()}
    return {}


class RequestContextMiddleware:
    """Binds a request id for every log line of the request, answers it in X-Request-ID,
    and logs one line per request: method, path, status, duration, who."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        structlog.contextvars.clear_contextvars()
        request_id = request_id_of(request)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception:
            request_logger.exception(
                "request failed", method=request.method, path=request.path, **who(request)
            )
            structlog.contextvars.clear_contextvars()
            raise
        response[REQUEST_ID_HEADER] = request_id
        status = response.status_code
        log = request_logger.warning if status >= 500 else request_logger.info
        log(
            "request",
            method=request.method,
            path=request.path,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            **who(request),
        )
        structlog.contextvars.clear_contextvars()
        return response


def bind(**values: Any) -> None:
    """Add ids (payment_id, batch_id...) to every further log line of this request or job."""
    structlog.contextvars.bind_contextvars(**values)


def current_request_id() -> str:
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))
