"""Benchmarks, the load generator and volume seeding: tools to measure the hub, not parts of
it. The top floor: it may import every app; no app imports it. Money is written only
through the ledger's posting code (accounts.ledger.posting, its history module for seeding)."""
