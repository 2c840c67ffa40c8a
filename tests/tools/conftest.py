"""The benchmark tests reuse the back office's small world of rows."""

from tests.backoffice.conftest import world  # noqa: F401
