"""The API's body parsers: JSON with a nesting limit, multipart with the upload limit.

A payment's body is flat; JSON nested deeper than MAX_JSON_DEPTH is refused with
400 before `json` recurses into it (at 1,000 levels it raised RecursionError, a 500).
"""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json  # json, refusing NaN and Infinity

from payments.api.errors import APIError
from payments.limits import upload_too_large

MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", body)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        # Counting brackets runs at C speed: the exact walk only for bodies with many.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
            if json_depth(body) > MAX_JSON_DEPTH:
                raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(body.decode(encoding))
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        request = (parser_context or {}).get("request")
        if request is not None and upload_too_large(request._request):
            raise APIError(
                status_code=413,
                code="request_too_large",
                detail=f"the file is larger than the limit of {settings.BATCH_MAX_FILE_BYTES} bytes",
            )
        return result
