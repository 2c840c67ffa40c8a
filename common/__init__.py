"""Helpers that know nothing of payments: keyset pagination, CSV safety, admin paging.

Nothing here imports the apps; the apps import it.
"""
