"""Request size limits, enforced before a large body touches memory or the disk.

`BodySizeLimitMiddleware` refuses from `Content-Length` alone (413, nothing read);
`UploadLimitHandler`, first of FILE_UPLOAD_HANDLERS, stops a multipart upload once
its files pass BATCH_MAX_FILE_BYTES while it streams in, before the temporary-file
handler behind it writes the chunk that would pass the limit.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, JsonResponse

# Paths that take a batch file (or a sanctions list, in the admin); every other request is
# held to DATA_UPLOAD_MAX_MEMORY_SIZE.
UPLOAD_PATHS = ("/api/v1/batches/", "/batches/upload/", "/admin/compliance/sanctionslist/import/")
# Room for the multipart envelope and the form's small fields around the file.
MULTIPART_OVERHEAD = 64 * 1024
TOO_LARGE_ATTRIBUTE = "upload_too_large"


def body_limit(path: str) -> int:
    if path in UPLOAD_PATHS:
        return settings.BATCH_MAX_FILE_BYTES + MULTIPART_OVERHEAD
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large_response(request: HttpRequest, limit: int) -> HttpResponse:
    detail = f"the request body is larger than the limit of {limit} bytes"
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "request_too_large", "detail": detail}, status=413)
    return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")


class BodySizeLimitMiddleware:
    """413 for a declared body above the path's limit, before any of it is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # Django reads no body at all then
        limit = body_limit(request.path)
        if declared > limit:
            response = too_large_response(request, limit)
            # The body was not read: the connection cannot carry another request.
            response["Connection"] = "close"
            return response
        return self.get_response(request)


class UploadLimitHandler(FileUploadHandler):
    """Counts the bytes of every file of a multipart request as they stream in; past
    BATCH_MAX_FILE_BYTES it marks the request (see `upload_too_large`) and stops the
    upload, and Django closes (so deletes) the partial temporary files."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.BATCH_MAX_FILE_BYTES:
            setattr(self.request, TOO_LARGE_ATTRIBUTE, True)
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the handlers after this one make the file


def upload_too_large(request: HttpRequest) -> bool:
    """Whether `UploadLimitHandler` stopped this request's upload."""
    return bool(getattr(request, TOO_LARGE_ATTRIBUTE, False))
