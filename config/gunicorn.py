"""gunicorn's settings for the hub: `gunicorn -c config/gunicorn.py config.wsgi`.

Every knob reads the environment, so one file serves a laptop and a web host:
PORT / BIND, WEB_CONCURRENCY (worker processes), WEB_THREADS, WEB_TIMEOUT, and
PROMETHEUS_MULTIPROC_DIR (set here when unset, so that /metrics adds up every worker).
"""

from __future__ import annotations

import multiprocessing as _multiprocessing
import os as _os
import shutil as _shutil
import sys as _sys
import tempfile as _tempfile

from gunicorn import glogging as _glogging

# This checkout's `config`, wherever gunicorn is started from.
_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))
from config.logs import logging_config_from_env as _logging_config  # noqa: E402

# Names without a leading underscore are gunicorn settings: helpers keep the underscore.

bind = [
    _os.environ.get("BIND")
    or f"{_os.environ.get('HOST', '127.0.0.1')}:{_os.environ.get('PORT', '8000')}"
]
# Sync workers: a payment request is CPU and one database round trip or two; 2 per core
# keeps the CPU busy while one waits on PostgreSQL, without thrashing a small machine.
workers = int(_os.environ.get("WEB_CONCURRENCY", 2 * _multiprocessing.cpu_count()))
threads = int(_os.environ.get("WEB_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(_os.environ.get("WEB_TIMEOUT", 30))  # a worker stuck this long is replaced
graceful_timeout = int(_os.environ.get("WEB_GRACEFUL_TIMEOUT", 30))  # finish in-flight requests
keepalive = 5  # behind a load balancer that keeps connections open
# Recycle workers now and then (a slow leak never becomes an outage); jitter spreads them.
max_requests = int(_os.environ.get("WEB_MAX_REQUESTS", 20_000))
max_requests_jitter = max_requests // 10
# Header limits: a request line or header past these is refused before Django sees it.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# X-Forwarded-* are believed from these addresses only (the proxies of TRUSTED_PROXY_COUNT).
forwarded_allow_ips = _os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips
# The middleware logs each request with its context (config/logs.py): no access log twice.
# gunicorn writes one anyway when given a logging dict (below), to its "gunicorn.access"
# logger, after building its fields for every request: this logger class writes none.
accesslog = None


class _RequestsLoggedByTheApp(_glogging.Logger):
    def access(self, resp, req, environ, request_time) -> None:
        return None


logger_class = _RequestsLoggedByTheApp
errorlog = "-"
loglevel = _os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's own lines (start, worker timeouts) in the same format as the app's (LOG_FORMAT).
logconfig_dict = _logging_config(loglevel.upper())
logconfig_dict["loggers"].update(
    {
        name: {"level": loglevel.upper(), "handlers": ["console"], "propagate": False}
        for name in ("gunicorn.error", "gunicorn.access")
    }
)
proc_name = "payhub-web"
# gunicorn's control socket (gunicornc) would sit at one path per user and be fought over by
# every gunicorn of that user on the host; signals (HUP, TTIN, TERM) do the same work.
control_socket_disable = True
chdir = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))

_made_metrics_dir = ""
if not _os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _made_metrics_dir = _tempfile.mkdtemp(prefix="payhub-metrics-")
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = _made_metrics_dir


def on_starting(server) -> None:
    """Before the first fork: an empty metrics directory (counters start at zero), unless
    METRICS_DIR_CLEAR_ON_START=false says that whoever shares it (`make run`, a host's
    service manager, with the RQ workers) emptied it before starting them all."""
    directory = _os.environ["PROMETHEUS_MULTIPROC_DIR"]
    _os.makedirs(directory, exist_ok=True)
    if _os.environ.get("METRICS_DIR_CLEAR_ON_START", "true").lower() in ("false", "0", "no"):
        return
    for name in _os.listdir(directory):
        _os.unlink(_os.path.join(directory, name))


def child_exit(server, worker) -> None:
    """A worker gone (recycled or crashed): its live gauges go with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _made_metrics_dir:
        _shutil.rmtree(_made_metrics_dir, ignore_errors=True)
