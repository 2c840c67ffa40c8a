"""The batch endpoints under hostile requests: oversized uploads, forged cursors, what a
merchant may see of the bank's staff and system accounts."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework.test import APIClient

from accounts.identity.audit import Actor
from accounts.ledger import posting
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


def upload(api, desk, content: bytes, **extra):
    body = {
        "file": SimpleUploadedFile("payouts.csv", content),
        "debtor_account": desk.account.number,
        **extra,
    }
    return api.post("/api/v1/batches/", body, format="multipart")


def dir_bytes(path) -> int:
    return sum(entry.stat().st_size for entry in os.scandir(path) if entry.is_file())


def test_an_upload_past_the_limit_stops_before_it_fills_the_disk(
    api, desk, settings, tmp_path, monkeypatch
):
    # given: a small limit, and every upload spooled to a temporary directory we watch
    settings.BATCH_MAX_FILE_BYTES = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    peak = [0]
    write = TemporaryFileUploadHandler.receive_data_chunk

    def watched(self, raw_data, start):
        result = write(self, raw_data, start)
        self.file.flush()
        peak[0] = max(peak[0], dir_bytes(tmp_path))
        return result

    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", watched)
    content = desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E")).encode() + b"x" * 60_000

    # when: 60 kB, under the Content-Length allowance, streams in
    response = upload(api, desk, content)

    # then: refused while streaming, and nothing past the limit ever reached the disk
    assert response.status_code == 413, response.content[:200]
    assert response.json()["code"] == "request_too_large"
    assert peak[0] <= settings.BATCH_MAX_FILE_BYTES
    assert dir_bytes(tmp_path) == 0
    assert Batch.objects.count() == 0


def test_an_upload_under_the_limit_still_goes_through_the_disk(api, desk, settings, tmp_path):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    content = desk.csv(*[(f"PAYEE000{i % 5}", "1.00", "EUR", "r", f"E{i}") for i in range(50)])

    response = upload(api, desk, content.encode())

    assert response.status_code == 201, response.json()
    assert Batch.objects.get().file_size == len(content)


def test_a_tampered_cursor_on_batches_is_400(api, desk):
    upload(api, desk, desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E")).encode())
    cursor = base64.b64encode(b"p=notadate&r=0").decode()

    response = api.get("/api/v1/batches/", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_a_tampered_cursor_on_batch_items_is_400(api, desk):
    response = upload(api, desk, desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E")).encode())
    cursor = base64.b64encode(b"p=first&r=0").decode()

    items = api.get(f"/api/v1/batches/{response.json()['id']}/items/", {"cursor": cursor})

    assert items.status_code == 400 and items.json()["code"] == "invalid_cursor"


def test_a_merchant_never_sees_the_staff_user_names(api, desk):
    response = upload(api, desk, desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E")).encode())
    batch = services.batch_validate(batch_id=response.json()["id"])
    services.batch_approve(
        batch_id=batch.id,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )

    detail = api.get(f"/api/v1/batches/{batch.id}/")
    listed = api.get("/api/v1/batches/")

    assert detail.json()["approvals"][0]["decision"] == "approve"
    for answer in (detail, listed):
        assert desk.checker.username not in answer.content.decode()
        assert desk.maker.username not in answer.content.decode()


def test_a_batch_row_cannot_pay_into_a_system_account(desk):
    funding = posting.funding_account("EUR")
    batch = desk.upload(
        desk.csv(
            ("PAYEE0000", "1.00", "EUR", "ok", "E1"), (funding.number, "5.00", "EUR", "x", "E2")
        )
    )

    batch = services.batch_validate(batch_id=batch.id)

    assert batch.items.get(row=2).error_code == "AC01"
    assert (batch.valid_count, batch.invalid_count) == (1, 1)
