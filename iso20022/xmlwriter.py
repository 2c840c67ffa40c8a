"""A small streaming XML writer for the ISO 20022 reports and statements.

lxml's xmlfile costs about 5 us per element; a 100,000-transaction pain.002 or camt.053 has
millions of them. This writes text into a buffer that goes out every few hundred kilobytes.
Every text is cleaned of characters XML 1.0 cannot carry (they become U+FFFD) and escaped;
tags and attribute names come from the code, never from input.
"""

from __future__ import annotations

import re
from typing import BinaryIO

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FLUSH_AT = 4096  # parts


def escape(text: str) -> str:
    """`text` as XML character data: escaped, characters XML 1.0 cannot carry as U+FFFD."""
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if _NOT_XML.search(text):
        text = _NOT_XML.sub("\ufffd", text)
    return text


def attribute(text: str) -> str:
    """`text` as a double-quoted attribute value."""
    return escape(text).replace('"', "&quot;")


class _Element:
    """Closes its element on leaving the with-block (lighter than a generator)."""

    __slots__ = ("_tag", "_writer")

    def __init__(self, writer: XmlWriter, tag: str) -> None:
        self._writer = writer
        self._tag = tag

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._writer.end(self._tag)


class XmlWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']

    def start(self, tag: str, **attributes: str) -> None:
        if attributes:
            pairs = "".join(f' {name}="{attribute(v)}"' for name, v in attributes.items())
            self._parts.append(f"<{tag}{pairs}>")
        else:
            self._parts.append(f"<{tag}>")

    def end(self, tag: str) -> None:
        self._parts.append(f"</{tag}>")
        if len(self._parts) >= _FLUSH_AT:
            self.flush()

    def element(self, tag: str, **attributes: str) -> _Element:
        self.start(tag, **attributes)
        return _Element(self, tag)

    def leaf(self, tag: str, text: str, **attributes: str) -> None:
        if attributes:
            self.start(tag, **attributes)
            self._parts.append(f"{escape(text)}</{tag}>")
        else:
            self._parts.append(f"<{tag}>{escape(text)}</{tag}>")

    def raw(self, markup: str) -> None:
        """Markup the caller built itself, every text in it already escaped."""
        self._parts.append(markup)
        if len(self._parts) >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        self._out.write("".join(self._parts).encode("utf-8"))
        self._parts.clear()
