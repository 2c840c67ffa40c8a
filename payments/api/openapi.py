"""What every API view's OpenAPI description shares: the Idempotency-Key header and the
error answers. The batch and statement APIs use them too (no view imports another view)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Up to 255 characters, kept 24 hours: a repeat replays the first response.",
)
ERRORS = {
    400: OpenApiResponse(description="invalid input: {code, detail, errors}"),
    401: OpenApiResponse(description="no or bad API key"),
    404: OpenApiResponse(description="not found, or not yours"),
    409: OpenApiResponse(
        description="the object's state does not allow this, or an idempotency conflict"
    ),
    413: OpenApiResponse(description="the body is larger than this endpoint takes"),
    415: OpenApiResponse(description="the body's Content-Type cannot be read here"),
    429: OpenApiResponse(description="throttled"),
}
