"""The client side of tests/e2e/test_clearing_two_hubs.py, run in its own network namespace:
merchants of two hubs paying each other's customers through the merchant API.

`basic`: one payment A -> B, then AC01, AC04 and AC06 rejections. `flow`: payments each way
from many threads for CLEARING_FLOW_SECONDS (the test cuts B off meanwhile), then waits
until neither hub has a pending payment, and reports every payment's final status on both
sides. Prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

HUBS = json.loads(os.environ["CLEARING_HUBS"])  # name -> {url, key, account, customers...}


def call(
    hub: str, method: str, path: str, body: Any = None, timeout: float = 30
) -> tuple[int, Any]:
    request = urllib.request.Request(
        HUBS[hub]["url"] + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {HUBS[hub]['key']}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def pay(source: str, target: str, iban: str, amount: str) -> tuple[int, Any]:
    return call(
        source,
        "POST",
        "/api/v1/payments/",
        {
            "debtor_account": HUBS[source]["account"],
            "creditor_account": iban,
            "amount": amount,
            "currency": "EUR",
            "reference": f"{source} to {target}",
            "creditor_name": "Customer",
            "creditor_address": {"town": "Town", "country": iban[:2]},
        },
    )


def balance(hub: str, number: str) -> str:
    status, body = call(hub, "GET", "/api/v1/accounts/?limit=200")
    assert status == 200, body
    return next(a["balance"] for a in body["results"] if a["number"] == number)


def payments(hub: str, **filters: str) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"limit": "200", **filters}.items())
    url, found = f"/api/v1/payments/?{query}", []
    while url:
        status, body = call(hub, "GET", url)
        assert status == 200, body
        found += body["results"]
        url = body["next"] and body["next"][body["next"].index("/api/") :]
    return found


def wait_final(hub: str, payment_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        _status, body = call(hub, "GET", f"/api/v1/payments/{payment_id}/")
        if body["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def basic() -> dict:
    b = HUBS["b"]
    out: dict[str, Any] = {
        "before": {"a": balance("a", HUBS["a"]["account"]), "b": balance("b", b["account"])}
    }
    status, body = pay("a", "b", b["account"], "12.50")
    out["paid"] = {"http": status, **wait_final("a", body["id"])}
    out["after"] = {"a": balance("a", HUBS["a"]["account"]), "b": balance("b", b["account"])}
    received = payments("b", direction="incoming")
    out["received"] = received
    for reason, iban in (("AC01", b["unknown"]), ("AC04", b["closed"]), ("AC06", b["frozen"])):
        status, body = pay("a", "b", iban, "1.00")
        out[reason] = {"http": status, **wait_final("a", body["id"])}
    out["final"] = {"a": balance("a", HUBS["a"]["account"]), "b": balance("b", b["account"])}
    return out


def flow() -> dict:
    seconds = float(os.environ.get("CLEARING_FLOW_SECONDS", "40"))
    per_side = int(os.environ.get("CLEARING_FLOW_COUNT", "200"))
    made: dict[str, list] = {"a": [], "b": []}
    errors: dict[str, int] = {"a": 0, "b": 0}
    lock = threading.Lock()

    def run(source: str, target: str, clients: int, index: int) -> None:
        interval = seconds / per_side * clients
        for _n in range(index, per_side, clients):
            started = time.monotonic()
            try:
                status, body = pay(source, target, HUBS[target]["account"], "1.00")
            except Exception:  # noqa: BLE001 - the hub is cut off or its web process is down
                status, body = 0, None
            with lock:
                if status == 201:
                    made[source].append(body["id"])
                else:
                    errors[source] += 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    threads = [
        threading.Thread(target=run, args=(source, target, 4, index))
        for source, target in (("a", "b"), ("b", "a"))
        for index in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Nothing pending anywhere: resends and status answers settle every transfer.
    deadline = time.monotonic() + float(os.environ.get("CLEARING_SETTLE_SECONDS", "240"))
    pending: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            pending = {hub: len(payments(hub, status="pending")) for hub in ("a", "b")}
        except OSError:  # a hub's web process is still starting again (URLError is an OSError)
            pending = {"unknown": 1}
        if not any(pending.values()):
            break
        time.sleep(2)
    sides = {}
    for source, target in (("a", "b"), ("b", "a")):
        sent = {
            p["clearing"]["uetr"]: p["status"]
            for p in payments(source, direction="outgoing")
            if p["clearing"]
        }
        got = {p["clearing"]["uetr"]: p["status"] for p in payments(target, direction="incoming")}
        sides[f"{source}->{target}"] = {
            "made": len(made[source]),
            "refused_by_api": errors[source],
            "sent": len(sent),
            "completed": sum(1 for s in sent.values() if s == "completed"),
            "failed": sum(1 for s in sent.values() if s == "failed"),
            "credited": len(got),
            # A transfer is credited at the receiver exactly when the sender completed it.
            "mismatches": sorted(
                uetr
                for uetr in set(sent) | set(got)
                if (sent.get(uetr) == "completed") != (got.get(uetr) == "completed")
            ),
        }
    return {"pending": pending, "sides": sides}


def received_id(uetr: str) -> str:
    """B's own id of the transfer A sent with this UETR."""
    return next(
        p["id"] for p in payments("b", direction="incoming") if p["clearing"]["uetr"] == uetr
    )


def returns_setup() -> dict:
    """Three transfers A to B, completed; the merchant at A recalls the second and third
    (camt.056 each). B's back office then returns the first and answers the recalls."""
    b = HUBS["b"]
    out: dict[str, Any] = {}
    for name, amount in (
        ("returned", "3.00"),
        ("recall_accepted", "4.00"),
        ("recall_refused", "5.00"),
    ):
        status, body = pay("a", "b", b["account"], amount)
        paid = wait_final("a", body["id"])
        assert (status, paid["status"]) == (201, "completed"), paid
        out[name] = {"a": paid["id"], "b": received_id(paid["clearing"]["uetr"])}
    for name, reason in (("recall_accepted", "DUPL"), ("recall_refused", "CUST")):
        status, body = call(
            "a", "POST", f"/api/v1/payments/{out[name]['a']}/recall/", {"reason": reason}
        )
        assert status == 200 and body["recall"]["status"] == "requested", body
    deadline = time.monotonic() + 120  # B has the camt.056s (its back office answers them)
    while time.monotonic() < deadline:
        asked = [p for p in payments("b", direction="incoming") if p.get("recall")]
        if len(asked) == 2:
            break
        time.sleep(0.5)
    out["recalls_at_b"] = len(asked)
    return out


def returns_check() -> dict:
    """What A's merchant sees once B's answers have arrived."""
    ids = json.loads(os.environ["CLEARING_RETURN_IDS"])
    deadline = time.monotonic() + 120
    seen: dict[str, dict] = {}
    while time.monotonic() < deadline:
        seen = {name: call("a", "GET", f"/api/v1/payments/{ids[name]['a']}/")[1] for name in ids}
        if (
            seen["returned"]["status"] == "returned"
            and (seen["recall_accepted"].get("recall") or {}).get("status") == "accepted"
            and (seen["recall_refused"].get("recall") or {}).get("status") == "refused"
        ):
            break
        time.sleep(0.5)
    return {
        name: {
            "status": p["status"],
            "recall": p.get("recall"),
            "refunded": p.get("refunded_amount"),
        }
        for name, p in seen.items()
    } | {
        "balances": {
            "a": balance("a", HUBS["a"]["account"]),
            "b": balance("b", HUBS["b"]["account"]),
        }
    }


if __name__ == "__main__":
    phases = {"basic": basic, "flow": flow, "returns_setup": returns_setup}
    result = {**phases, "returns_check": returns_check}[sys.argv[1]]()
    print(json.dumps(result, default=str))
