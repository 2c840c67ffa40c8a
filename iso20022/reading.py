"""Hardened, streaming reading of ISO 20022 XML, for files customers upload and documents
other banks send: no DTD, no entity expansion, no network, no huge nodes; the stream
rejoined with a head read to sniff it, checked to end as a whole document; the line of the
first schema error found by reading once more."""

from __future__ import annotations

import re
from typing import BinaryIO

from lxml import etree


def secure_iterparse(
    source: Rejoined | Lines | BinaryIO,
    tags: tuple[str, ...] | None,
    *,
    schema: etree.XMLSchema | None = None,
    events: tuple[str, ...] = ("end",),
) -> etree.iterparse[tuple[str, etree._Element]]:
    """lxml's iterparse with every door to the outside closed, validating as it goes.

    `parse` refuses a DTD before this runs; these options are the second lock: entities stay
    unexpanded, no DTD is loaded, nothing is fetched, and huge text nodes or deep trees fail.
    With `schema`, libxml2 validates each element as it is parsed (memory stays flat).
    """
    return etree.iterparse(
        source,
        events=events,  # type: ignore[arg-type]
        tag=tags,
        schema=schema,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


# How a whole document ends: the root's end tag, then nothing but blanks, comments and PIs.
_WHOLE = re.compile(
    rb"</(?:[A-Za-z_][\w.-]*:)?Document\s*>(?:\s|<!--(?:(?!-->).)*-->|<\?(?:(?!\?>).)*\?>)*\Z",
    re.DOTALL,
)
_TAIL = 4096


class Rejoined:
    """The stream again, with the head that was read from it to check the prolog put back.

    It keeps the last bytes read: validating against a schema, libxml2 2.14 ends a file cut
    short without an error and closes every open element itself (the root included), so the
    end of the bytes, not the end events, says whether the document is whole.
    """

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest
        self._tail = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            data = self._rest.read(size)
        elif size is None or size < 0:
            data, self._head = self._head + self._rest.read(), b""
        else:
            data, self._head = self._head[:size], self._head[size:]
        if data:
            self._tail = (self._tail + data)[-_TAIL:]
        else:
            self._ended = True
        return data

    def cut_short(self) -> bool:
        """True once the whole stream is read and it does not end as a document ends."""
        # Without NULs, UTF-16 and UTF-32 markup reads as ASCII (the encodings `detect` knows).
        return self._ended and _WHOLE.search(self._tail.replace(b"\x00", b"")) is None


class Lines:
    """The stream a line at a time, so that a schema error is seen at the line that has it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.readline(size if size and size > 0 else -1)


_NAMESPACE_IN_MESSAGE = re.compile(r"\{urn:[^}]*\}")


def schema_error_line(stream: BinaryIO, schema: etree.XMLSchema) -> tuple[int, str]:
    # `schema` must not be the one of a parse still alive (see iso20022.schemas.schema).
    """Where in `stream` the first schema error is, and libxml2's message for it.

    libxml2 reports no line for errors found while streaming, so the file is read once more,
    a line at a time, up to the first error; elements are dropped as they end.
    """
    stream.seek(0)
    events = secure_iterparse(Lines(stream), None, schema=schema, events=("start", "end"))
    line = 0
    try:
        for event, element in events:
            line = element.sourceline or line
            if events.error_log:
                break
            if event == "end":
                prune(element)
    except etree.XMLSyntaxError:
        pass
    errors = [error for error in events.error_log if error.level_name in ("ERROR", "FATAL")]
    message = errors[0].message if errors else "the file does not follow its schema"
    return line, _NAMESPACE_IN_MESSAGE.sub("", message)


def prune(element: etree._Element) -> None:
    """Drop a handled element and everything before it, so memory stays flat."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
