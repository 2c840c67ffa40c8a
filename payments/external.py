"""The door from the merchant API to other banks, filled in by the clearing app.

payments sits below clearing and never imports it: clearing registers a `Network` here in
its AppConfig.ready(), and the API asks it whether a creditor account it does not hold is
served by another bank, and to send the payment there. Without clearing installed, no
account outside the hub can be paid (the API answers as for an unknown account).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payments.models import Payment


@dataclass(frozen=True)
class Network:
    # The BIC of the bank serving this IBAN, or None.
    serves: Callable[[str], str | None]
    # Sends a payment to another bank (keyword arguments of the API's request): debits and
    # queues it in the caller's transaction, and returns it pending.
    send: Callable[..., Payment]
    # Posts a payment `send` queued, once the caller's transaction has committed: the payment
    # as it is then (completed or failed on the other bank's answer, else still pending).
    deliver: Callable[[Payment], Payment]
    # Asks the other bank for a completed transfer back (payment_id, merchant, reason, actor).
    recall: Callable[..., Payment]


_network: Network | None = None


def register(network: Network) -> None:
    global _network
    _network = network


def network() -> Network | None:
    return _network


def send(**kwargs: Any) -> Payment:
    if _network is None:
        raise RuntimeError("no clearing network is installed")
    return _network.send(**kwargs)


def deliver(payment: Payment) -> Payment:
    if _network is None:
        raise RuntimeError("no clearing network is installed")
    return _network.deliver(payment)


def recall(**kwargs: Any) -> Payment:
    if _network is None:
        raise RuntimeError("no clearing network is installed")
    return _network.recall(**kwargs)


@dataclass(frozen=True)
class Desk:
    """The back office's answers to other banks (returns, recalls), carried out by clearing.

    Both raise a LedgerError (with its detail) for what the payment's state refuses."""

    # Refuses what the payment's state or the ISO reason does not allow: (kind, payment, code).
    check: Callable[[str, Payment, str], None]
    # Does it in the caller's transaction: (action, actor) -> what was done, in words.
    carry_out: Callable[[Any, Any], str]
    # The ISO reasons a return may give, and a recall's refusal (the desk's choices).
    return_reasons: frozenset[str] = frozenset()
    refusal_reasons: frozenset[str] = frozenset()


_desk: Desk | None = None


def register_desk(desk: Desk) -> None:
    global _desk
    _desk = desk


def desk() -> Desk:
    if _desk is None:
        raise RuntimeError("no clearing network is installed")
    return _desk
