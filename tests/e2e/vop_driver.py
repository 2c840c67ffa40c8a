"""The client side of tests/e2e/test_vop_two_hubs.py, run in its own network namespace: hub
A's merchant verifies payees of hub B (the endpoint, API payments, a batch's rows), then
opts out of verification for batches and back in. Prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

HUBS = json.loads(os.environ["VOP_HUBS"])
A = HUBS["a"]


def call(method: str, path: str, body: Any = None, *, raw: bytes | None = None,
         content_type: str = "application/json", timeout: float = 60) -> tuple[int, Any]:  # fmt: skip
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(
        A["url"] + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {A['key']}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(text or b"null") if "json" in kind else text.decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def verify(iban: str, name: str) -> dict:
    status, body = call("POST", "/api/v1/payee-verifications/", {"iban": iban, "name": name})
    assert status == 200, body
    return body


def pay(iban: str, name: str) -> dict:
    status, body = call(
        "POST",
        "/api/v1/payments/",
        {
            "debtor_account": A["account"],
            "creditor_account": iban,
            "amount": "1.00",
            "currency": "EUR",
            "reference": f"vop {name}",
            "creditor_name": name,
            "creditor_address": {"town": "Paris", "country": "FR"},
        },
    )
    assert status == 201, body
    return {k: body[k] for k in ("status", "failure_code", "verification")}


def upload(rows: list[tuple[str, str, str]]) -> dict:
    boundary = uuid.uuid4().hex
    csv = "creditor_account,creditor_name,amount,currency,reference,end_to_end_id\n" + "".join(
        f"{iban},{name},2.00,EUR,vop-{i},{e2e}\n" for i, (iban, name, e2e) in enumerate(rows)
    )
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="debtor_account"\r\n\r\n{A["account"]}\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="vop.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{csv}\r\n",
        f"--{boundary}--\r\n",
    ]
    status, batch = call(
        "POST",
        "/api/v1/batches/",
        raw="".join(parts).encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert status == 201, batch
    deadline = time.monotonic() + 120
    while batch["status"] in ("uploaded", "validating"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.5)
        _status, batch = call("GET", f"/api/v1/batches/{batch['id']}/")
    _status, items = call("GET", f"/api/v1/batches/{batch['id']}/items/?limit=200")
    return {
        "id": batch["id"],
        "status": batch["status"],
        "vop_opted_out": batch["vop_opted_out"],
        "rows": {item["end_to_end_id"]: item["verification"] for item in items["results"]},
    }


def main() -> None:
    jean, bakery, nobody, anna = A["jean"], A["bakery"], A["nobody"], A["anna"]
    result: dict[str, Any] = {
        "endpoint": {
            "MTCH": verify(jean, "DUPONT Jean"),
            "CMTC": verify(jean, "Jean Dupond"),
            "NMTC": verify(bakery, "Garage Lefebvre"),
            "NOAP": verify(nobody, "Jean Dupont"),
        },
        "payments": {
            "MTCH": pay(jean, "Jean Dupont"),
            "CMTC": pay(jean, "Jean Dupond"),
            "NMTC": pay(bakery, "Garage Lefebvre"),
            "NOAP": pay(nobody, "Jean Dupont"),
        },
    }
    rows = [
        (jean, "Jean Dupont", "MTCH"),
        (jean, "Jean Dupond", "CMTC"),
        (bakery, "Garage Lefebvre", "NMTC"),
        (nobody, "Jean Dupont", "NOAP"),
        (anna, "Anna Schmid", "ONUS-CMTC"),
    ]
    result["batch"] = upload(rows)
    _s, result["batch"]["report"] = call(
        "GET", f"/api/v1/batches/{result['batch']['id']}/report.xml"
    )
    opt = "/api/v1/payee-verifications/batch-opt-out/"
    result["opt_out"] = call("POST", opt, {"opt_out": True})[1]
    result["opted_out_batch"] = upload([(row[0], row[1], "OUT-" + row[2]) for row in rows])
    result["opt_in"] = call("POST", opt, {"opt_out": False})[1]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
