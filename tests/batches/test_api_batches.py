"""The batch endpoints of the merchant API."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from lxml import etree
from rest_framework.test import APIClient

from accounts.identity.audit import Actor
from batches import services
from batches.models import Batch
from payments import api_keys
from tests.helpers import fresh_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(desk):
    _, key = api_keys.api_key_create(merchant=desk.merchant, name="t", actor=Actor.system("t"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def upload(api, desk, content: str, **extra):
    body = {
        "file": SimpleUploadedFile("payouts.csv", content.encode()),
        "debtor_account": desk.account.number,
        **extra,
    }
    return api.post("/api/v1/batches/", body, format="multipart")


def test_upload_then_read_items_and_reports(api, desk):
    content = desk.csv(
        ("PAYEE0000", "10.00", "EUR", "=cmd|calc", "E1"), ("NOPE", "1.00", "EUR", "b", "E2")
    )

    response = upload(api, desk, content)

    assert response.status_code == 201, response.json()
    batch = response.json()
    assert batch["status"] == "uploaded" and batch["file_name"] == "payouts.csv"
    services.batch_validate(batch_id=batch["id"])  # what the worker does after commit
    detail = api.get(f"/api/v1/batches/{batch['id']}/").json()
    assert detail["status"] == "awaiting_approval"
    assert (detail["item_count"], detail["valid_count"], detail["invalid_count"]) == (2, 1, 1)
    assert detail["total_amount"] == "10.00" and detail["currency"] == "EUR"
    assert detail["progress"] == {"done": 0, "total": 1}
    assert detail["approvals"] == [] and detail["approvals_required"] == 1

    items = api.get(f"/api/v1/batches/{batch['id']}/items/").json()["results"]
    assert [(i["row"], i["status"], i["error_code"]) for i in items] == [
        (1, "valid", None),
        (2, "invalid", "AC01"),
    ]

    services.batch_approve(
        batch_id=batch["id"],
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    services.batch_execute(batch_id=batch["id"])

    report = api.get(f"/api/v1/batches/{batch['id']}/report.csv")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert rows[0][:3] == ["row", "creditor_account", "creditor_name"]
    assert rows[1][5] == "'=cmd|calc"  # a formula in a file never reaches a spreadsheet as one
    assert rows[1][7] == "paid" and rows[2][8] == "AC01"

    failed = api.get(f"/api/v1/batches/{batch['id']}/failed.csv")
    failed_rows = list(csv.reader(io.StringIO(b"".join(failed.streaming_content).decode())))
    assert failed_rows == [
        ["creditor_account", "amount", "currency", "reference", "creditor_name", "end_to_end_id"],
        ["NOPE", "1.00", "EUR", "b", "", "E2"],
    ]

    xml = api.get(f"/api/v1/batches/{batch['id']}/report.xml")
    assert xml.status_code == 200
    tree = etree.fromstring(b"".join(xml.streaming_content))
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"}
    assert tree.findtext(".//p:GrpSts", namespaces=ns) == "PART"
    assert tree.xpath(".//p:TxInfAndSts/p:TxSts/text()", namespaces=ns) == ["ACSC", "RJCT"]
    assert tree.xpath(".//p:TxInfAndSts/p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=ns) == ["AC01"]


def test_upload_errors_are_400_and_create_nothing(api, desk):
    no_debtor = api.post(
        "/api/v1/batches/", {"file": SimpleUploadedFile("a.csv", b"x")}, format="multipart"
    )
    assert no_debtor.status_code == 400
    no_file = api.post(
        "/api/v1/batches/", {"debtor_account": desk.account.number}, format="multipart"
    )
    assert no_file.status_code == 400 and "file" in no_file.json()["errors"]
    empty = upload(api, desk, "")
    assert empty.status_code == 400
    foreign = upload(
        api, desk, desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")), debtor_account="PAYEE0001"
    )
    assert foreign.status_code == 400 and "you have no account" in foreign.json()["detail"]
    past = upload(
        api, desk, desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")), execution_date="2020-01-01"
    )
    assert past.status_code == 400
    assert Batch.objects.count() == 0


def test_another_merchants_batch_is_404(api, desk, rival_merchant_batch):
    batch_id = rival_merchant_batch.id
    assert api.get(f"/api/v1/batches/{batch_id}/").status_code == 404
    assert api.get(f"/api/v1/batches/{batch_id}/items/").status_code == 404
    assert api.post(f"/api/v1/batches/{batch_id}/cancel/").status_code == 404
    for report in ("report.csv", "report.xml", "failed.csv"):
        response = api.get(f"/api/v1/batches/{batch_id}/{report}")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert Batch.objects.get(pk=batch_id).status == "uploaded"


def test_cancel_through_the_api(api, desk):
    batch = upload(api, desk, desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1"))).json()
    response = api.post(f"/api/v1/batches/{batch['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = api.post(f"/api/v1/batches/{batch['id']}/cancel/")
    assert again.status_code == 409


@pytest.fixture
def rival_merchant_batch(db):
    from tests.factories import AccountFactory, MerchantFactory

    merchant = MerchantFactory(name="Rival")
    account = AccountFactory(merchant=merchant, currency="EUR")
    return services.batch_upload(
        merchant=merchant,
        upload=SimpleUploadedFile(
            "r.csv", b"creditor_account,amount,currency,reference\nX,1.00,EUR,r\n"
        ),
        debtor_account_number=account.number,
        actor=Actor.system("t"),
    )
