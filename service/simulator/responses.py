"""Byte-exact JSON responses and the one error type the routers raise."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

GITHUB_JSON = "application/json; charset=utf-8"
JIRA_JSON = "application/json;charset=UTF-8"


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class UpstreamError(Exception):
    """An upstream-shaped error: status, JSON body and headers exactly as the upstream sends."""

    def __init__(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, *, github: bool
    ) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}
        self.media_type = GITHUB_JSON if github else JIRA_JSON

    def response(self) -> Response:
        return Response(
            dumps(self.payload), self.status, headers=self.headers, media_type=self.media_type
        )


def jira_error(status: int, *messages: str, headers: dict[str, str] | None = None) -> UpstreamError:
    return UpstreamError(
        status, {"errorMessages": list(messages), "errors": {}}, headers, github=False
    )


def link_header(request: Request, page: int, last: int) -> str | None:
    """GitHub's `Link`: rel order prev, next, last, first; page 1 has only next and last.

    Every query parameter the client sent is carried over in its original order, with `page`
    moved to the end, as GitHub does.
    """
    if last <= 1 and page <= 1:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

    def url(p: int) -> str:
        return str(request.url.replace(query=urlencode([*params, ("page", str(p))])))

    parts = []
    if page > 1:
        parts.append(f'<{url(min(page - 1, last))}>; rel="prev"')
    if page < last:
        parts.append(f'<{url(page + 1)}>; rel="next"')
        parts.append(f'<{url(last)}>; rel="last"')
    if page > 1:
        parts.append(f'<{url(1)}>; rel="first"')
    return ", ".join(parts) or None
