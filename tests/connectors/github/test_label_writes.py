"""GitHub label writes: exact requests, one second between writes with one token, expected
refusals, and secondary-limit answers waited out."""

import json
import uuid
from datetime import timedelta

import httpx
import pytest

from connectors.base import FatalUpstreamError
from connectors.github.writes import GitHubLabelWriter
from connectors.testing import FakeTime
from connectors.writes import DEFAULT_MIN_WRITE_INTERVAL_SECONDS

from .fakes import BASE

LABELS = f"{BASE}/repos/octo/repo/issues/7/labels"


def writer(fake_time: FakeTime, token: str | None = None, **kwargs) -> GitHubLabelWriter:
    # Spacing is per token and process: a fresh token per test keeps tests independent.
    return GitHubLabelWriter(
        BASE,
        {"token": token or f"ghp_{uuid.uuid4().hex}"},
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        **kwargs,
    )


async def test_writes_are_one_second_apart_by_default(router, fake_time) -> None:
    assert DEFAULT_MIN_WRITE_INTERVAL_SECONDS == 1.0
    add = router.post(LABELS).mock(return_value=httpx.Response(200, json=[]))
    remove = router.delete(f"{LABELS}/initiative%3Aold").mock(
        return_value=httpx.Response(200, json=[])
    )
    client = writer(fake_time)

    await client.change_labels("octo/repo#7", ["initiative:a", "initiative:b"], ["initiative:old"])

    assert remove.call_count == 1 and add.call_count == 2
    bodies = [json.loads(call.request.content) for call in add.calls]
    assert bodies == [{"labels": ["initiative:a"]}, {"labels": ["initiative:b"]}]
    # Three writes, no time passing in between except the waits: two full seconds waited.
    assert fake_time.waits == [1.0, 1.0]
    await client.aclose()


async def test_time_already_passed_counts_toward_the_spacing(router, fake_time) -> None:
    router.post(LABELS).mock(return_value=httpx.Response(200, json=[]))
    client = writer(fake_time)
    await client.change_labels("octo/repo#7", ["a"], [])
    fake_time.now += timedelta(seconds=0.25)
    await client.change_labels("octo/repo#7", ["b"], [])
    assert fake_time.waits == [0.75]
    await client.aclose()


async def test_spacing_is_shared_by_writers_of_one_token(router, fake_time) -> None:
    router.post(LABELS).mock(return_value=httpx.Response(200, json=[]))
    token = f"ghp_{uuid.uuid4().hex}"
    first = writer(fake_time, token, min_interval=2.0)
    second = writer(fake_time, token, min_interval=2.0)
    await first.change_labels("octo/repo#7", ["a"], [])
    await second.change_labels("octo/repo#7", ["b"], [])
    assert fake_time.waits == [2.0]


async def test_removing_an_absent_label_and_creating_an_existing_one_are_fine(
    router, fake_time
) -> None:
    router.delete(f"{LABELS}/gone").mock(
        return_value=httpx.Response(404, json={"message": "Label does not exist"})
    )
    create = router.post(f"{BASE}/repos/octo/repo/labels").mock(
        side_effect=[
            httpx.Response(201, json={"name": "initiative:a"}),
            httpx.Response(422, json={"message": "Validation Failed"}),
        ]
    )
    client = writer(fake_time, min_interval=0)
    await client.change_labels("octo/repo#7", [], ["gone"])
    assert await client.ensure_label("octo/repo#7", "initiative:a", "5319e7") is True
    assert await client.ensure_label("octo/repo#7", "initiative:a", "5319e7") is False
    assert json.loads(create.calls[0].request.content) == {
        "name": "initiative:a",
        "color": "5319e7",
    }


async def test_secondary_limit_answers_back_off_then_succeed(router, fake_time) -> None:
    secondary = {"message": "You have exceeded a secondary rate limit."}
    route = router.post(LABELS).mock(
        side_effect=[
            httpx.Response(403, json=secondary),
            httpx.Response(403, json=secondary, headers={"retry-after": "30"}),
            httpx.Response(200, json=[]),
        ]
    )
    client = writer(fake_time, min_interval=0)
    await client.change_labels("octo/repo#7", ["a"], [])
    assert route.call_count == 3
    assert fake_time.waits == [60.0, 30.0]


async def test_other_refusals_fail_with_the_upstream_message(router, fake_time) -> None:
    router.post(LABELS).mock(return_value=httpx.Response(403, json={"message": "Must have push"}))
    client = writer(fake_time, min_interval=0)
    with pytest.raises(FatalUpstreamError, match="Must have push"):
        await client.change_labels("octo/repo#7", ["a"], [])
    with pytest.raises(FatalUpstreamError, match="not a GitHub issue key"):
        await client.change_labels("PLAT-7", ["a"], [])
