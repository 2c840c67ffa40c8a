"""Verification of Payee (EPC VOP scheme, EPC103-24), both roles.

As the payee's bank (`responder.py`): a peer asks whether a name is the holder's of an IBAN
this hub holds, over the signed channel of clearing; as the payer's bank (`requester.py`):
the hub asks the peer serving an IBAN (or itself, for its own accounts) before a payment
leaves or a batch is approved. `batch.py` verifies a batch's payees at validation,
`services.py` holds the batch opt-out, `api.py` the merchant's endpoints. See
docs/compliance.md, "Verification of Payee".
"""
