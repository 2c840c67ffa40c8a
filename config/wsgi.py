"""WSGI entry point for gunicorn: `gunicorn config.wsgi`.

The merchant API (/api/v1/) runs behind its own, shorter middleware chain,
`settings.API_MIDDLEWARE`: sessions, CSRF, sign-in, OTP, messages, CSP and the
lock-out serve the browser pages and cost a tenth of a payment request.
"""

import os

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

API_PREFIX = "/api/v1/"
# Other banks' signed messages (clearing/): no browser middleware either.
CLEARING_PREFIX = "/clearing/v1/"
VOP_PREFIX = "/vop/v1/"  # other banks' Verification of Payee requests, signed the same way
# Probes and the scraper need none of the browser's middleware either.
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class APIHandler(WSGIHandler):
    """Django's WSGI handler with `settings.API_MIDDLEWARE` as its middleware chain."""

    def load_middleware(self, is_async=False):
        # Django builds the chain from settings.MIDDLEWARE; lend it the API's list for
        # the duration (at start-up, before any request is served).
        browser_chain = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = browser_chain


browser = WSGIHandler()
api = APIHandler()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    handler = (
        api
        if path.startswith((API_PREFIX, CLEARING_PREFIX, VOP_PREFIX)) or path in OPERATIONS_PATHS
        else browser
    )
    return handler(environ, start_response)
