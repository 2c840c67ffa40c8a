"""Property-based checks of the API against its own OpenAPI schema (schemathesis).

A bounded number of generated requests per operation must never cause a 500,
nor a response (status, content type, body) that the schema does not describe.
"""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from config import wsgi

pytestmark = pytest.mark.usefixtures("keep_test_connection")


@pytest.fixture
def unthrottled(monkeypatch):
    from payments.api.auth import APIKeyRateThrottle

    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "100000/second"})


schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = wsgi.application  # the production entry point, with the API's middleware chain


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, shop, unthrottled):
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {shop.key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    assert response.status_code != 429, "throttling is lifted for this test"
