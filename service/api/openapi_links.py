"""OpenAPI links for every resource: what a create returns feeds read, update and delete.

Derived from the routes, so a new resource gets them without a line of its own: a collection
`P` whose POST answers 201 with a body carrying `id`, and item operations under `P/{param}`
(exactly one path parameter), are linked `POST P` → each item operation with
`param = $response.body#/id`; the item's GET and PATCH link on to the other item operations
the same way. Clients and stateful testers follow these from create to delete.
"""

from __future__ import annotations

import re
from typing import Any

_PARAM = re.compile(r"\{([^}]+)\}")
_METHODS = ("get", "put", "patch", "post", "delete")


def add_crud_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the links to `schema` (an OpenAPI document, modified in place) and return it."""
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    for collection, operations in paths.items():
        create = operations.get("post")
        if create is None or "201" not in create.get("responses", {}):
            continue
        targets = _item_operations(paths, collection)
        if not targets:
            continue
        _link(create["responses"]["201"], targets)
        for path, method, _, _ in targets:
            if method in ("get", "patch") and path.count("{") == 1 and path.endswith("}"):
                response = paths[path][method]["responses"].get("200")
                if response is not None:
                    others = [t for t in targets if (t[0], t[1]) != (path, method)]
                    _link(response, others)
    return schema


def _item_operations(
    paths: dict[str, dict[str, Any]], collection: str
) -> list[tuple[str, str, str, str]]:
    """(path, method, parameter, operationId) of operations on one item of `collection`."""
    found = []
    prefix = collection.rstrip("/") + "/{"
    for path, operations in paths.items():
        names = _PARAM.findall(path)
        if not path.startswith(prefix) or len(names) != 1:
            continue
        for method in _METHODS:
            operation = operations.get(method)
            if operation is not None and operation.get("operationId"):
                found.append((path, method, names[0], operation["operationId"]))
    return found


def _link(response: dict[str, Any], targets: list[tuple[str, str, str, str]]) -> None:
    links = response.setdefault("links", {})
    for path, method, parameter, operation_id in targets:
        links[_link_name(method, path)] = {
            "operationId": operation_id,
            "parameters": {parameter: "$response.body#/id"},
        }


def _link_name(method: str, path: str) -> str:
    segments = [s for s in path.split("/") if s and s not in ("api", "v1")]
    words = [w for segment in segments for w in re.split(r"[{}_-]+", segment) if w]
    return method.capitalize() + "".join(w.capitalize() for w in words)
