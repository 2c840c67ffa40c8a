"""Who else must hear that a transfer sent to another bank is settled: a small registry.

clearing sits below batches and never imports it. A batch row paid through the network is a
payment with `batch_id`; when the peer's pacs.002 settles it (`outbound.status_apply`), the
listeners registered here (batches does so in its AppConfig.ready()) are called in the same
transaction, before the money of a rejection is given back, so that the row, its batch's
counters and the payment change together, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from payments.models import Payment


@dataclass(frozen=True)
class Settled:
    payment: Payment  # locked, still `pending`: the verdict below is being applied to it
    status: str  # ACSC or RJCT
    reason_code: str  # the peer's reason of a RJCT; "" for ACSC
    peer_bic: str


Listener = Callable[[Settled], None]

_listeners: list[Listener] = []


def listen(listener: Listener) -> None:
    """Register once (AppConfig.ready() runs once per process)."""
    if listener not in _listeners:
        _listeners.append(listener)


def settled(event: Settled) -> None:
    for listener in _listeners:
        listener(event)
