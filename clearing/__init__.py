"""Interbank clearing: the hub as one bank on a network of peers (CONTRACT.md, "Interbank
clearing"). Sits above payments: clearing imports payments, accounts and common, never the
reverse; payments reaches it through the hook of payments/external.py.
"""
