"""The account-side management commands: each prints one JSON object last."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account, AuditEvent, LedgerTransaction, Merchant, User

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_create_merchant_account_and_fund_it():
    merchant = run(
        "create_merchant", "--name", "Acme GmbH", "--webhook-url", "https://acme.test/hook"
    )
    assert merchant["name"] == "Acme GmbH"
    assert merchant["webhook_secret"].startswith("whsec_")

    account = run(
        "create_account",
        "--merchant",
        merchant["id"],
        "--currency",
        "EUR",
        "--number",
        "DE89370400440532013000",
    )
    assert account == {"id": account["id"], "number": "DE89370400440532013000", "currency": "EUR"}
    assert (
        Account.objects.get(pk=account["id"]).merchant_id
        == Merchant.objects.get(name="Acme GmbH").pk
    )

    funded = run("fund_account", "--number", "DE89370400440532013000", "--amount", "1000.00")
    assert funded == {"number": "DE89370400440532013000", "balance": "1000.00"}
    funded = run("fund_account", "--number", "DE89370400440532013000", "--amount", "0.50")
    assert funded["balance"] == "1000.50"
    assert LedgerTransaction.objects.filter(kind="funding").count() == 2
    assert AuditEvent.objects.filter(action="account.fund").count() == 2


def test_create_account_without_merchant_generates_a_number():
    account = run("create_account", "--currency", "JPY")
    created = Account.objects.get(pk=account["id"])
    assert created.merchant is None and created.currency == "JPY"
    assert account["number"].startswith("PH") and len(account["number"]) == 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create_account", "--currency", "XYZ"], "unknown currency"),
        (["create_account", "--currency", "EUR", "--merchant", "not-a-uuid"], "not a UUID"),
        (
            [
                "create_account",
                "--currency",
                "EUR",
                "--merchant",
                "00000000-0000-0000-0000-000000000000",
            ],
            "no merchant",
        ),
        (["fund_account", "--number", "NOPE", "--amount", "10.00"], "no account"),
        (["fund_account", "--number", "ACC1", "--amount", "10.001"], "2 decimals"),
        (["fund_account", "--number", "ACC1", "--amount", "-5"], "negative"),
        (["fund_account", "--number", "ACC1", "--amount", "0"], "greater than zero"),
        (["create_merchant", "--name", "  "], "needs a name"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(args, message):
    run("create_account", "--currency", "EUR", "--number", "ACC1")
    before = (Account.objects.count(), LedgerTransaction.objects.count(), Merchant.objects.count())
    with pytest.raises(CommandError, match=message):
        call_command(*args, stdout=io.StringIO())
    assert (
        Account.objects.count(),
        LedgerTransaction.objects.count(),
        Merchant.objects.count(),
    ) == before


def test_fund_a_frozen_account_is_refused():
    run("create_account", "--currency", "EUR", "--number", "ACC1")
    Account.objects.filter(number="ACC1").update(status=Account.Status.FROZEN)
    with pytest.raises(CommandError, match="frozen"):
        call_command("fund_account", "--number", "ACC1", "--amount", "10", stdout=io.StringIO())
    assert Account.objects.get(number="ACC1").balance == 0


def test_create_operator_prints_a_working_totp_uri():
    result = run(
        "create_operator", "--username", "olga", "--password", "s3cure-Passphrase!", "--approver"
    )

    assert result["username"] == "olga"
    assert result["totp_uri"].startswith("otpauth://totp/")
    user = User.objects.get(username="olga")
    assert set(user.groups.values_list("name", flat=True)) == {"operator", "approver"}
    device = TOTPDevice.objects.get(user=user)
    assert device.verify_token(str(totp(device.bin_key)).zfill(6)) is True
    assert user.check_password("s3cure-Passphrase!")


def test_create_operator_refuses_a_weak_password_or_a_taken_name():
    with pytest.raises(CommandError, match="too short|too common"):
        call_command(
            "create_operator", "--username", "weak", "--password", "abc", stdout=io.StringIO()
        )
    assert not User.objects.filter(username="weak").exists()
    run("create_operator", "--username", "olga", "--password", "s3cure-Passphrase!")
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_operator",
            "--username",
            "olga",
            "--password",
            "s3cure-Passphrase!",
            stdout=io.StringIO(),
        )


def test_verify_ledger_exits_1_and_names_the_account(capsys):
    run("create_account", "--currency", "EUR", "--number", "ACC1")
    run("fund_account", "--number", "ACC1", "--amount", "10.00")
    assert run("verify_ledger")["ok"] is True

    Account.objects.filter(number="ACC1").update(balance=99_999)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_ledger", stdout=io.StringIO(), stderr=err)
    assert exit_info.value.code == 1
    assert "ACC1" in err.getvalue()


def test_seed_demo_twice_changes_nothing():
    first = run("seed_demo")
    counts = (
        User.objects.count(),
        Account.objects.count(),
        LedgerTransaction.objects.count(),
        TOTPDevice.objects.count(),
    )

    second = run("seed_demo")

    assert first == second
    assert counts == (
        User.objects.count(),
        Account.objects.count(),
        LedgerTransaction.objects.count(),
        TOTPDevice.objects.count(),
    )
    assert {u["username"] for u in first["users"]} >= {"maker", "checker", "admin"}
    assert run("verify_ledger")["ok"] is True
    # a morning of the demo shop's payments, made once
    from payments.models import Payment

    statuses = sorted(Payment.objects.values_list("status", flat=True))
    assert statuses == sorted(["completed"] * 5 + ["partially_refunded", "authorized", "failed"])
    assert Payment.objects.get(status="failed").failure_code == "insufficient_funds"
