"""Readers of the three published list formats, into one shape (`ParsedList`).

- EU: the financial sanctions file (FSF) XML, `export` of `sanctionEntity` with `nameAlias`
  (namespace http://eu.europa.ec/fpi/fsd/export, schema 1.1);
- UN: the Security Council consolidated list XML, `CONSOLIDATED_LIST` with
  `INDIVIDUALS/INDIVIDUAL` and `ENTITIES/ENTITY`, aliases in `*_ALIAS/ALIAS_NAME`;
- OFAC: `sdn.csv` with `alt.csv` (aliases) and `add.csv` (addresses, read for nothing but
  its presence): no header, `-0-` for an empty cell.

The XML is read with the hub's hardened iterparse (iso20022.reading.secure_iterparse),
elements cleared as they are read: no DTD is loaded, no entity expanded, nothing fetched
from the network, no huge-tree mode; a file with a DOCTYPE is refused before that. A gzip-compressed file is read as its content (capped).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from lxml import etree

from accounts.ledger.errors import LedgerError
from iso20022.reading import secure_iterparse

MAX_FILE_BYTES = 200 * 1024 * 1024
EU_NS = "{http://eu.europa.ec/fpi/fsd/export}"
OFAC_EMPTY = "-0-"


class SanctionsFileError(LedgerError):
    """The file is not a sanctions list in the format named."""

    code = "sanctions_file_invalid"


@dataclass(slots=True)
class ParsedEntry:
    reference: str
    kind: str  # person, entity, other
    names: list[str]  # the first is the primary name
    programme: str = ""
    remarks: str = ""

    def content_hash(self) -> str:
        """Changes when what the entry says changes: its names, kind or programme."""
        body = json.dumps([self.kind, sorted(set(self.names)), self.programme], ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(slots=True)
class ParsedList:
    source: str
    version: str
    published: date | None
    sha256: str
    files: list[str]
    entries: list[ParsedEntry] = field(default_factory=list)
    # Lines that name an entry the list does not have (the published OFAC files have some).
    orphans: int = 0


def read_bytes(path: str) -> bytes:
    """The file's content, gunzipped if it is compressed, at most MAX_FILE_BYTES."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
            handle.seek(0)
            if head == b"\x1f\x8b":
                stream: io.BufferedIOBase = gzip.GzipFile(fileobj=handle)
            else:
                stream = handle
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SanctionsFileError(f"{path}: cannot be read ({error.strerror or error})") from error
    if len(data) > MAX_FILE_BYTES:
        raise SanctionsFileError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    return data


def _sha256(contents: list[bytes]) -> str:
    digest = hashlib.sha256()
    for content in contents:
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def _iterparse(data: bytes, tags: tuple[str, ...]) -> Iterator[etree._Element]:
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:65536]:
        raise SanctionsFileError("the file declares a DOCTYPE or entities: refused")
    parser = secure_iterparse(io.BytesIO(data), tags)
    try:
        for _, element in parser:
            yield element
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                parent = element.getparent()
                if parent is None:
                    break
                del parent[0]
    except etree.XMLSyntaxError as error:
        raise SanctionsFileError(f"not well-formed XML: {error.msg}") from error


def _root_attribute(data: bytes, tag: str, name: str) -> str:
    """An attribute of the root element, read from the file's first bytes."""
    found = re.search(rb"<" + tag.encode() + rb"\b[^>]*>", data[:8192])
    if found is None:
        return ""
    value = re.search(rb"\s" + name.encode() + rb"\s*=\s*[\"']([^\"']*)[\"']", found.group(0))
    return value.group(1).decode("utf-8", "replace")[:100] if value else ""


def _date_of(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())[:500]


def parse_eu(paths: list[str]) -> ParsedList:
    if len(paths) != 1:
        raise SanctionsFileError("the EU list is one XML file")
    data = read_bytes(paths[0])
    if (
        not data.lstrip().startswith(b"<")
        or b"http://eu.europa.ec/fpi/fsd/export" not in data[:2000]
    ):
        raise SanctionsFileError(f"{paths[0]}: not an EU financial sanctions file (FSF) XML")
    generated = _root_attribute(data, "export", "generationDate")
    entries = []
    for element in _iterparse(data, (f"{EU_NS}sanctionEntity",)):
        subject = element.find(f"{EU_NS}subjectType")
        code = subject.get("code", "") if subject is not None else ""
        kind = {"person": "person", "enterprise": "entity"}.get(code, "other")
        names = []
        for alias in element.iterfind(f"{EU_NS}nameAlias"):
            whole = _clean(alias.get("wholeName"))
            if not whole:
                parts = (alias.get(part) for part in ("firstName", "middleName", "lastName"))
                whole = _clean(" ".join(p for p in parts if p))
            if whole and whole not in names:
                names.append(whole)
        if not names:
            continue
        programmes = sorted(
            {r.get("programme", "") for r in element.iterfind(f"{EU_NS}regulation")} - {""}
        )
        reference = element.get("euReferenceNumber") or element.get("logicalId") or ""
        remark = element.find(f"{EU_NS}remark")
        entries.append(
            ParsedEntry(
                reference=_clean(reference)[:100],
                kind=kind,
                names=names,
                programme=", ".join(programmes)[:500],
                remarks=_clean(remark.text if remark is not None else ""),
            )
        )
    if not entries:
        raise SanctionsFileError(f"{paths[0]}: no sanctionEntity with a name")
    return ParsedList(
        source="eu",
        version=generated or "unknown",
        published=_date_of(generated),
        sha256=_sha256([data]),
        files=[p.rsplit("/", 1)[-1] for p in paths],
        entries=entries,
    )


def _un_name(element: etree._Element) -> str:
    parts = (
        element.findtext(tag) for tag in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
    )
    return _clean(" ".join(p for p in parts if p and p.strip()))


def parse_un(paths: list[str]) -> ParsedList:
    if len(paths) != 1:
        raise SanctionsFileError("the UN list is one XML file")
    data = read_bytes(paths[0])
    if b"<CONSOLIDATED_LIST" not in data[:2000]:
        raise SanctionsFileError(f"{paths[0]}: not a UN Security Council consolidated list XML")
    generated = _root_attribute(data, "CONSOLIDATED_LIST", "dateGenerated")
    entries = []
    for element in _iterparse(data, ("INDIVIDUAL", "ENTITY")):
        person = element.tag == "INDIVIDUAL"
        primary = _un_name(element)
        names = [primary] if primary else []
        original = _clean(element.findtext("NAME_ORIGINAL_SCRIPT"))
        if original and original not in names:
            names.append(original)
        for alias in element.iterfind("INDIVIDUAL_ALIAS" if person else "ENTITY_ALIAS"):
            name = _clean(alias.findtext("ALIAS_NAME"))
            if name and name not in names:
                names.append(name)
        if not names:
            continue
        reference = _clean(element.findtext("REFERENCE_NUMBER")) or _clean(
            element.findtext("DATAID")
        )
        entries.append(
            ParsedEntry(
                reference=reference[:100],
                kind="person" if person else "entity",
                names=names,
                programme=_clean(element.findtext("UN_LIST_TYPE")),
                remarks=_clean(element.findtext("COMMENTS1"))[:2000],
            )
        )
    if not entries:
        raise SanctionsFileError(f"{paths[0]}: no INDIVIDUAL or ENTITY with a name")
    return ParsedList(
        source="un",
        version=generated or "unknown",
        published=_date_of(generated),
        sha256=_sha256([data]),
        files=[p.rsplit("/", 1)[-1] for p in paths],
        entries=entries,
    )


def _ofac_rows(data: bytes, name: str, width: int) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # older OFAC files
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (len(row) == 1 and row[0].strip() in ("", "\x1a")):
            continue  # blank lines, and the end-of-file mark of the published files
        if len(row) != width:
            raise SanctionsFileError(f"{name}: line {number} has {len(row)} columns, not {width}")
        yield ["" if cell.strip() == OFAC_EMPTY else cell.strip() for cell in row]


def _ofac_name(raw: str, individual: bool) -> str:
    """'SURNAME, Given' as 'Given SURNAME' for people; entities as written."""
    raw = _clean(raw)
    if individual and raw.count(",") == 1:
        last, first = (part.strip() for part in raw.split(","))
        return _clean(f"{first} {last}")
    return raw


def parse_ofac(paths: list[str]) -> ParsedList:
    by_name: dict[str, str] = {}
    for path in paths:
        base = path.rsplit("/", 1)[-1].lower().removesuffix(".gz")
        key = next((k for k in ("sdn.csv", "alt.csv", "add.csv") if base.endswith(k)), base)
        if key in by_name:
            raise SanctionsFileError(f"two files for {key}")
        by_name[key] = path
    if "sdn.csv" not in by_name:
        raise SanctionsFileError("the OFAC list needs sdn.csv (with alt.csv and add.csv)")
    unknown = set(by_name) - {"sdn.csv", "alt.csv", "add.csv"}
    if unknown:
        raise SanctionsFileError(f"not an OFAC SDN file: {', '.join(sorted(unknown))}")
    contents = {key: read_bytes(path) for key, path in by_name.items()}
    entries: dict[str, ParsedEntry] = {}
    for row in _ofac_rows(contents["sdn.csv"], "sdn.csv", 12):
        number, name, kind, programme = row[0], row[1], row[2].lower(), row[3]
        if not number or not name:
            continue
        individual = kind == "individual"
        entries[number] = ParsedEntry(
            reference=number,
            kind="person" if individual else ("entity" if not kind else "other"),
            names=[_ofac_name(name, individual)],
            programme=programme[:500],
            remarks=row[11][:2000],
        )
    if not entries:
        raise SanctionsFileError("sdn.csv: no entry")
    orphans = 0
    if "alt.csv" in contents:
        for row in _ofac_rows(contents["alt.csv"], "alt.csv", 5):
            entry = entries.get(row[0])
            if entry is None:
                orphans += 1
                continue
            alias = _ofac_name(row[3], entry.kind == "person")
            if alias and alias not in entry.names:
                entry.names.append(alias)
    if "add.csv" in contents:
        for row in _ofac_rows(contents["add.csv"], "add.csv", 6):
            if row[0] not in entries:
                orphans += 1
    ordered = [contents[k] for k in ("sdn.csv", "alt.csv", "add.csv") if k in contents]
    digest = _sha256(ordered)
    return ParsedList(
        source="ofac",
        # The CSV files carry no date: the version is their digest.
        version=f"sha256:{digest[:16]}",
        published=None,
        sha256=digest,
        files=sorted(by_name),
        entries=list(entries.values()),
        orphans=orphans,
    )


PARSERS = {"eu": parse_eu, "un": parse_un, "ofac": parse_ofac}


def parse(source: str, paths: list[str]) -> ParsedList:
    if source not in PARSERS:
        raise SanctionsFileError(f"unknown list format {source!r}: eu, un or ofac")
    return PARSERS[source](paths)
