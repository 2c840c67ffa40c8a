"""The OpenAPI schema and docs/api.md say what the API sends (issue 22, point 7): no
promised field the API never sends, the statement's JSON described as JSON, and Swagger's
"Try it out" examples that work against the demo as they are."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from batches.api.serializers import ApprovalSerializer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DEMO_KEY = "demokey1.payhub-demo-key-not-for-production"


@pytest.fixture
def schema(db) -> dict:
    return json.loads(Client().get("/api/schema/?format=json").content)


def test_the_documented_approvals_are_what_the_batch_api_sends():
    docs = DOCS.read_text()
    sent = set(ApprovalSerializer.Meta.fields)

    example = re.search(r'"approvals": \[\s*(\{.*?\})\s*\]', docs, re.S)
    assert example is not None
    assert set(json.loads(example.group(1).replace("...", ""))) == sent
    row = next(line for line in docs.splitlines() if line.startswith("| `approvals` |"))
    named = set(re.findall(r"`([a-z0-9_]+)`", row.split("|")[2])) - {"approve", "reject"}
    assert named == sent


def test_the_statement_answers_json_by_schema_and_files_otherwise(schema):
    path = next(p for p in schema["paths"] if p.endswith("/statement/"))
    content = schema["paths"][path]["get"]["responses"]["200"]["content"]

    ref = content["application/json"]["schema"]["$ref"].split("/")[-1]
    body = schema["components"]["schemas"][ref]
    assert {"from", "to", "opening_booked", "closing_booked", "entries"} <= set(body["properties"])
    assert content["application/xml"]["schema"]["format"] == "binary"
    assert content["text/csv"]["schema"]["format"] == "binary"


def test_swaggers_example_payment_is_accepted_by_the_demo(schema):
    call_command("seed_demo", stdout=StringIO())
    request = schema["paths"]["/api/v1/payments/"]["post"]["requestBody"]["content"]
    example = next(iter(request["application/json"]["examples"].values()))["value"]
    properties = schema["components"]["schemas"]["PaymentCreateRequest"]["properties"]
    built_from_fields = {
        name: field["example"] for name, field in properties.items() if "example" in field
    }

    for body in (example, built_from_fields):
        answer = Client().post(
            "/api/v1/payments/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {DEMO_KEY}",
        )
        assert answer.status_code == 201, answer.content
        assert answer.json()["status"] == "completed"


def test_the_batch_upload_form_offers_a_real_account_as_example(schema):
    upload = schema["paths"]["/api/v1/batches/"]["post"]["requestBody"]["content"]
    ref = upload["multipart/form-data"]["schema"]["$ref"].split("/")[-1]
    assert schema["components"]["schemas"][ref]["properties"]["debtor_account"]["example"] == (
        "DEMOEUR0001"
    )
