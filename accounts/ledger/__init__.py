"""The ledger: merchants, accounts, double-entry transactions, entries and holds.

`posting` is the only code that moves money or changes a balance; `money` and
`currency` turn decimal strings into minor units and back.
"""
