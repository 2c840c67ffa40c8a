"""Addresses in the pacs.008 this hub sends (issue 20): a creditor's hybrid address goes out
as TwnNm, Ctry and its AdrLines, a debtor's as structured elements, and the document
validates against the official pacs.008.001.08 schema."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from clearing.iso import builders, validation
from tests.clearing.test_outbound import _pay, fake  # noqa: F401 - the fake peer, a fixture

NS = {"n": "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"}
HYBRID = {
    "postcode": "69002",
    "town": "Lyon",
    "country": "FR",
    "address_lines": ["12 quai Saint-Antoine", "Batiment B"],
}


def parts(root, party: str) -> list[tuple[str, str]]:
    address = root.find(f".//n:CdtTrfTxInf/n:{party}/n:PstlAdr", NS)
    return [(child.tag.rpartition("}")[2], child.text) for child in address]


def test_a_hybrid_creditor_address_goes_out_in_the_pacs008(fake, peer, shop):  # noqa: F811
    response = _pay(shop, peer, creditor_address=HYBRID)

    assert response.status_code == 201, response.content
    assert response.json()["creditor_address"] == HYBRID
    # The fake peer validated the document against the schema before reading it.
    (root,) = fake.roots
    assert parts(root, "Cdtr") == [
        ("PstCd", "69002"),
        ("TwnNm", "Lyon"),
        ("Ctry", "FR"),
        ("AdrLine", "12 quai Saint-Antoine"),
        ("AdrLine", "Batiment B"),
    ]


@pytest.mark.parametrize(
    "debtor_address",
    [
        {
            "street": "Hauptstrasse",
            "building_number": "1",
            "postcode": "10115",
            "town": "Berlin",
            "country": "DE",
        },
        {"town": "Berlin", "country": "DE", "address_lines": ["Hauptstrasse 1"]},
    ],
)
def test_the_pacs008_writes_both_parties_addresses_and_validates(debtor_address):
    body = builders.pacs008(
        builders.Transfer(
            msg_id=builders.new_msg_id(),
            created_at=timezone.now(),
            uetr=uuid.uuid4(),
            end_to_end_id="E2E-ADDR",
            instruction_id="I-ADDR",
            amount=1250,
            currency="EUR",
            debtor_agent="HUBADEFFXXX",
            creditor_agent="PEERFRPPXXX",
            debtor_name="Payroll Co",
            debtor_iban="DE89370400440532013000",
            creditor_name="Lumiere et Fils",
            creditor_iban="FR7630006000011234567890189",
            creditor_address=HYBRID,
            debtor_address=debtor_address,
        )
    )

    _kind, root, _document = validation.validate(body, expect=builders.PACS008)

    assert dict(parts(root, "Dbtr"))["TwnNm"] == "Berlin"
    assert [value for tag, value in parts(root, "Dbtr") if tag != "AdrLine"] == [
        debtor_address[key]
        for key in ("street", "building_number", "postcode", "town", "country")
        if key in debtor_address
    ]
    assert ("AdrLine", "Batiment B") in parts(root, "Cdtr")


def test_an_on_us_payment_keeps_any_address_it_is_given(shop, other_account):
    lines_only = {"address_lines": ["5 rue de la Republique", "13001 Marseille"]}

    response = shop.client.post(
        "/api/v1/payments/",
        {
            "debtor_account": shop.account.number,
            "creditor_account": other_account.number,
            "amount": "1.00",
            "currency": "EUR",
            "creditor_address": lines_only,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["creditor_address"] == lines_only
    assert response.json()["debtor_address"] is None
