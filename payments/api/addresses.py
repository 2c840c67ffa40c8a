"""Postal addresses as the API returns them: a PostalAddress24 dict (iso20022.addresses keys,
only the parts given), or null; one field and one OpenAPI schema for payments and batch rows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from iso20022 import addresses

ADDRESS_SCHEMA = {
    "type": "object",
    "nullable": True,
    "description": "a postal address, structured (ISO 20022 PostalAddress24) or hybrid;"
    " only the parts given",
    "properties": {
        **{
            key: {"type": "string", "maxLength": length, "description": tag}
            for key, tag, length in addresses.ELEMENTS
        },
        addresses.LINES: {
            "type": "array",
            "items": {"type": "string", "maxLength": addresses.LINE_LENGTH},
            "description": "AdrLine",
        },
    },
    "example": {
        "street": "Hauptstrasse",
        "building_number": "1",
        "postcode": "10115",
        "town": "Berlin",
        "country": "DE",
    },
}


@extend_schema_field(ADDRESS_SCHEMA)
class AddressField(serializers.JSONField):
    """A stored address, read only."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, allow_null=True, **kwargs)
