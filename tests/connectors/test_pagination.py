import httpx
import pytest

from connectors.base import FatalUpstreamError
from connectors.http import Reply
from connectors.pagination import BodyTokenPaginator, LinkHeaderPaginator


def reply(*, link: str | None = None, body: object = None) -> Reply:
    headers = {"link": link} if link else {}
    response = httpx.Response(
        200, headers=headers, request=httpx.Request("GET", "https://x.test/a")
    )
    return Reply(response, body)


def test_link_paginator_returns_next_url_verbatim():
    url = "https://api.github.com/repositories/515435940/issues?per_page=3&page=4"
    link = f'<https://x.test/p2>; rel="prev", <{url}>; rel="next", <https://x.test/p5>; rel="last"'
    assert LinkHeaderPaginator().next_token(reply(link=link)) == url


def test_link_paginator_stops_without_next():
    assert LinkHeaderPaginator().next_token(reply(link='<https://x.test/1>; rel="first"')) is None
    assert LinkHeaderPaginator().next_token(reply()) is None


def test_link_paginator_detects_loop():
    paginator = LinkHeaderPaginator()
    page = reply(link='<https://x.test/p2>; rel="next"')
    paginator.next_token(page)
    with pytest.raises(FatalUpstreamError, match="pagination loop"):
        paginator.next_token(page)


def test_body_token_paginator_follows_token_until_is_last():
    paginator = BodyTokenPaginator()
    assert paginator.next_token(reply(body={"nextPageToken": "abc", "isLast": False})) == "abc"
    assert paginator.next_token(reply(body={"nextPageToken": "zzz", "isLast": True})) is None
    assert paginator.next_token(reply(body={"issues": []})) is None


def test_body_token_paginator_detects_loop():
    paginator = BodyTokenPaginator()
    paginator.next_token(reply(body={"nextPageToken": "abc"}))
    with pytest.raises(FatalUpstreamError):
        paginator.next_token(reply(body={"nextPageToken": "abc"}))
