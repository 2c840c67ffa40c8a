"""Verification of Payee between two hubs, each on a network host of its own (the hosts of
tests/e2e/test_clearing_two_hubs.py), the merchant's client on a third: hub A's merchant
asks about hub B's customers (the endpoint), pays them (API payments carry the result),
uploads a batch (each row carries its result, in the API and the pain.002); an approval
over a close-match row is refused without the explicit confirmation; the merchant opts out
for batches (the next batch carries no result and says so) and back in.

Needs root, iproute2 and the PostgreSQL and Redis binaries (as the clearing test).
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.e2e.test_clearing_two_hubs import customer, hubs, pytestmark  # noqa: F401
from tests.e2e.test_many_hosts import ROOT

__all__ = ["hubs", "pytestmark"]

NAMED = (
    "from accounts.identity.audit import Actor\n"
    "from accounts.ledger import services\n"
    "actor = Actor.system('vop e2e')\n"
)


def _open(hubs, hub: str, accounts: dict[str, str]) -> None:
    script = NAMED + "".join(
        f"services.account_open(currency='EUR', number='{number}', name='{name}', actor=actor)\n"
        for number, name in accounts.items()
    )
    hubs.manage(hub, "shell", "-c", script)


def _approve(hubs, batch_id: str) -> dict:
    script = (
        "import json\n"
        "from accounts.identity import roles\n"
        "from accounts.identity.audit import Actor\n"
        "from batches import services\n"
        "from batches.services.decisions import MismatchesNotConfirmed\n"
        "from tests.helpers import fresh_code, make_operator\n"
        "checker = make_operator(roles.OPERATOR, roles.APPROVER, username='vop-checker')\n"
        "out = {}\n"
        "try:\n"
        f"    services.batch_approve(batch_id='{batch_id}', approver=checker,"
        " actor=Actor.for_user(checker), otp_token=fresh_code(checker))\n"
        "    out['without'] = 'approved'\n"
        "except MismatchesNotConfirmed as refused:\n"
        "    out['without'] = refused.detail\n"
        f"batch = services.batch_approve(batch_id='{batch_id}', approver=checker,"
        " actor=Actor.for_user(checker), otp_token=fresh_code(checker), confirm_mismatches=True)\n"
        "out['with'] = batch.status\n"
        "print(json.dumps(out))\n"
    )
    return hubs.manage("a", "shell", "-c", script)


def test_verification_of_payee_between_two_hubs(hubs):
    hubs, seeds = hubs
    jean, bakery, nobody = customer("b", 4), customer("b", 5), customer("b", 9)
    anna = customer("a", 4)
    _open(hubs, "b", {jean: "Jean Dupont", bakery: "Boulangerie Martin SARL"})
    _open(hubs, "a", {anna: "Anna Schmidt"})
    # The hubs of the clearing test run no batch worker: A validates batches here.
    hubs.start("a", "batches", [sys.executable, "manage.py", "rqworker", "batches"], hubs.env("a"))
    a = {**seeds["a"], "jean": jean, "bakery": bakery, "nobody": nobody, "anna": anna}
    driver = subprocess.run(
        ["ip", "netns", "exec", hubs.ns("cl"), sys.executable, "-m", "tests.e2e.vop_driver"],
        cwd=ROOT,
        env={**hubs.env("cl"), "VOP_HUBS": json.dumps({"a": a})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert driver.returncode == 0, driver.stdout[-2000:] + driver.stderr[-3000:]
    result = json.loads(driver.stdout.strip().splitlines()[-1])
    print("vop:", json.dumps(result)[:4000])

    expected = {
        "MTCH": {"result": "MTCH", "matched_name": None},
        "CMTC": {"result": "CMTC", "matched_name": "Jean Dupont"},
        "NMTC": {"result": "NMTC", "matched_name": None},
        "NOAP": {"result": "NOAP", "matched_name": None},
    }
    assert result["endpoint"] == expected
    payments = result["payments"]
    assert {code: p["verification"] for code, p in payments.items()} == expected
    # The payer is informed; a mismatch does not stop the payment (B accepts it).
    assert [payments[c]["status"] for c in ("MTCH", "CMTC", "NMTC")] == ["completed"] * 3
    assert (payments["NOAP"]["status"], payments["NOAP"]["failure_code"]) == ("failed", "AC01")

    batch = result["batch"]
    assert batch["status"] == "awaiting_approval" and batch["vop_opted_out"] is False
    assert batch["rows"] == {
        **expected,
        "ONUS-CMTC": {"result": "CMTC", "matched_name": "Anna Schmidt"},
    }
    report = batch["report"]
    assert "VOP CMTC close match, account holder: Jean Dupont" in report
    assert "VOP NMTC name does not match" in report and "VOP NOAP" in report

    approval = _approve(hubs, batch["id"])
    assert "Verification of Payee" in approval["without"], approval
    assert approval["with"] in ("executing", "completed", "approved"), approval

    assert result["opt_out"] == {"batch_opt_out": True}
    skipped = result["opted_out_batch"]
    assert skipped["vop_opted_out"] is True
    assert set(skipped["rows"].values()) == {None}
    assert result["opt_in"] == {"batch_opt_out": False}
    audit = hubs.manage(
        "a",
        "shell",
        "-c",
        "import json\nfrom accounts.identity.models import AuditEvent\n"
        "print(json.dumps({'actions': sorted(AuditEvent.objects.filter(action__startswith="
        "'merchant.vop_batch').values_list('action', flat=True))}))\n",
    )
    assert audit["actions"] == ["merchant.vop_batch_opt_in", "merchant.vop_batch_opt_out"]
