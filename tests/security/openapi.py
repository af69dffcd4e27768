"""The project's OpenAPI schema as schemathesis reads it, and a check of one Django test-client
response against what the schema documents for its operation."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import requests
import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.generators import SchemaGenerator
from schemathesis.schemas import BaseSchema


def spec() -> dict[str, Any]:
    """The schema drf-spectacular serves at /api/schema/ (both hosts' routes), as plain JSON."""
    generated = SchemaGenerator(urlconf="config.urls_api").get_schema(request=None, public=True)
    return json.loads(json.dumps(generated, cls=DjangoJSONEncoder))


@cache
def loaded() -> BaseSchema:
    return schemathesis.openapi.from_dict(spec())


def assert_conforms(method: str, path_template: str, response: Any) -> None:
    """Raise (with schemathesis' explanation) unless the response's status, content type and body
    are what the schema documents for the operation."""
    request = requests.Request(method=method, url=f"http://testserver{path_template}").prepare()
    answer = schemathesis.Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=request,
        elapsed=0.0,
        verify=True,
    )
    loaded()[path_template][method.upper()].validate_response(answer)
