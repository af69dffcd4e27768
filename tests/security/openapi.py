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


def resolve(node: Any, root: dict[str, Any]) -> Any:
    """The schema a `$ref` (or an `allOf` of one) names; any other node as it is."""
    for _ in range(20):
        if isinstance(node, dict) and "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        elif isinstance(node, dict) and "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        else:
            break
    return node


def read_only_fields(operation: dict[str, Any], root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Properties marked readOnly in the operation's 2xx JSON answers and not writable in its JSON
    request body: what a client must not be able to set."""
    request = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    writable = set(resolve(request.get("schema", {}), root).get("properties", {}))
    found: dict[str, dict[str, Any]] = {}
    for status, answer in operation.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        schema = resolve(answer.get("content", {}).get("application/json", {}).get("schema", {}), root)
        for name, prop in schema.get("properties", {}).items():
            prop = resolve(prop, root)
            if prop.get("readOnly") and name not in writable:
                found[name] = prop
    return found
