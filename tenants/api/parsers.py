"""Request body parsers of the API: bounded in size and in nesting.

DRF's parsers read the request stream to its end, whatever its length: Django's own limit
(DATA_UPLOAD_MAX_MEMORY_SIZE) applies to `request.body` and to form fields, not to that stream.
These read at most the limit, and answer 413 past it (OWASP API4)."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is larger than the API accepts."
    default_code = "too_large"


def _bounded(stream: Any) -> io.BytesIO:
    limit = settings.API_MAX_BODY_BYTES
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise BodyTooLarge
    return io.BytesIO(body)


class JSONParser(parsers.JSONParser):
    """JSON nested past the decoder's recursion limit is the 400 it is: DRF catches only
    ValueError, and `[` repeated 100,000 times raised RecursionError (a 500)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(_bounded(stream), media_type, parser_context)
        except RecursionError as error:
            raise ParseError("JSON parse error - nested too deeply") from error


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return super().parse(_bounded(stream), media_type, parser_context)
