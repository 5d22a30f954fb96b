"""Paginators: one small object per pagination scheme, each with `next_token(reply)`.

A paginator is used for one pass over one partition. A token seen twice means the upstream is
looping; that fails the run instead of spinning forever.
"""

from __future__ import annotations

from typing import Protocol

from connectors.base import FatalUpstreamError
from connectors.http import Reply


class Paginator(Protocol):
    def next_token(self, reply: Reply) -> str | None:
        """The token for the next page, or None after the last page."""
        ...


class _LoopGuard:
    def __init__(self) -> None:
        self._seen: set[str] = set()

    def check(self, token: str | None, reply: Reply) -> str | None:
        if token is None:
            return None
        if token in self._seen:
            raise FatalUpstreamError(
                f"pagination loop at {reply.request.method} {reply.request.url.path}: "
                f"next page token {token!r} was already followed"
            )
        self._seen.add(token)
        return token


class LinkHeaderPaginator(_LoopGuard):
    """RFC 8288 `Link` header: the `rel="next"` URL, exactly as given (GitHub).

    The token is the absolute URL; send it unchanged, never rebuild it from parameters.
    """

    def next_token(self, reply: Reply) -> str | None:
        link = reply.response.links.get("next")
        return self.check(link.get("url") if link else None, reply)


class BodyTokenPaginator(_LoopGuard):
    """A token in the JSON body, with an optional last-page flag (Jira `nextPageToken`/`isLast`).

    Args:
        token_field: body key holding the next token.
        last_field: body key that is true on the last page (checked first), or None.
    """

    def __init__(self, token_field: str = "nextPageToken", last_field: str | None = "isLast"):
        super().__init__()
        self.token_field = token_field
        self.last_field = last_field

    def next_token(self, reply: Reply) -> str | None:
        body = reply.data if isinstance(reply.data, dict) else {}
        if self.last_field and body.get(self.last_field) is True:
            return None
        token = body.get(self.token_field)
        return self.check(str(token) if token else None, reply)
