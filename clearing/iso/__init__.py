"""The interbank ISO 20022 documents: built (builders.py), read (readers.py) and checked
against their official schemas (validation.py) in both directions."""
