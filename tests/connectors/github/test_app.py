"""GitHub App authentication: JWT claims, token exchange, caching, refresh, and the 401 retry."""

from collections.abc import Iterator
from datetime import timedelta
from functools import lru_cache

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import FatalUpstreamError
from connectors.github import app as github_app
from connectors.github.app import AppCredentials, app_jwt, check_private_key
from connectors.github.connector import GitHubConnector
from connectors.github.writes import GitHubLabelWriter
from connectors.testing import FakeTime

from .fakes import BASE, stamp

REPO = f"{BASE}/repos/octo/repo"
EXCHANGE = f"{BASE}/app/installations/77/access_tokens"


@lru_cache
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key() -> str:
    loaded = serialization.load_pem_private_key(private_key().encode(), password=None)
    return (
        loaded.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    github_app.forget_installations()
    yield
    github_app.forget_installations()


def connector(fake_time: FakeTime, **credentials: object) -> GitHubConnector:
    creds = {"app_id": "123", "private_key": private_key(), **credentials}
    return GitHubConnector(
        BASE, creds, {"repos": ["octo/repo"]}, sleep=fake_time.sleep, clock=fake_time.clock
    )


class Exchanges:
    """Answers the token exchange with `ghs_1`, `ghs_2`, … each valid for one hour."""

    def __init__(self, fake_time: FakeTime) -> None:
        self.fake_time = fake_time
        self.jwts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.jwts.append(request.headers["authorization"].removeprefix("Bearer "))
        expires = self.fake_time.now + timedelta(hours=1)
        token = f"ghs_{len(self.jwts)}"
        return httpx.Response(201, json={"token": token, "expires_at": stamp(expires)})


def repo_answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"full_name": "octo/repo", "seen": request.headers["authorization"]}
    )


def test_jwt_is_rs256_backdated_and_short_lived(fake_time: FakeTime) -> None:
    token = app_jwt("123", private_key(), fake_time.now)
    claims = jwt.decode(token, public_key(), algorithms=["RS256"], options={"verify_exp": False})
    now = int(fake_time.now.timestamp())
    assert claims == {"iss": "123", "iat": now - 60, "exp": now + 540}
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        check_private_key("-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----")
    assert "not-a-key" not in str(caught.value)


async def test_one_exchange_serves_many_requests_until_five_minutes_before_expiry(
    router, fake_time: FakeTime
) -> None:
    exchanges = Exchanges(fake_time)
    exchange = router.post(EXCHANGE).mock(side_effect=exchanges)
    repo = router.get(REPO).mock(side_effect=repo_answer)
    gh = connector(fake_time, installation_id="77")

    for _ in range(5):
        assert (await gh.client.get_json("/repos/octo/repo"))["seen"] == "Bearer ghs_1"
    fake_time.now += timedelta(minutes=54, seconds=59)  # 5 min 1 s left: still fresh
    assert (await gh.client.get_json("/repos/octo/repo"))["seen"] == "Bearer ghs_1"
    fake_time.now += timedelta(seconds=2)  # inside the 5-minute margin: refreshed first
    assert (await gh.client.get_json("/repos/octo/repo"))["seen"] == "Bearer ghs_2"

    assert exchange.call_count == 2 and repo.call_count == 7
    assert gh.stats.requests == 9  # the exchanges are counted with the run's requests
    claims = jwt.decode(
        exchanges.jwts[0], public_key(), algorithms=["RS256"], options={"verify_exp": False}
    )
    assert claims["iss"] == "123"


async def test_a_second_connector_on_the_installation_reuses_the_cached_token(
    router, fake_time: FakeTime
) -> None:
    exchange = router.post(EXCHANGE).mock(side_effect=Exchanges(fake_time))
    router.get(REPO).mock(side_effect=repo_answer)
    for _ in range(3):
        gh = connector(fake_time, installation_id="77")
        await gh.client.get_json("/repos/octo/repo")
        await gh.aclose()
    assert exchange.call_count == 1


async def test_a_401_refreshes_the_token_once_and_retries(router, fake_time: FakeTime) -> None:
    exchange = router.post(EXCHANGE).mock(side_effect=Exchanges(fake_time))
    answers = [httpx.Response(401, json={"message": "Bad credentials"})]

    def repo_or_401(request: httpx.Request) -> httpx.Response:
        return answers.pop() if answers else repo_answer(request)

    repo = router.get(REPO).mock(side_effect=repo_or_401)
    gh = connector(fake_time, installation_id="77")

    assert (await gh.client.get_json("/repos/octo/repo"))["seen"] == "Bearer ghs_2"
    assert exchange.call_count == 2 and repo.call_count == 2


async def test_a_second_401_after_the_refresh_fails_loudly(router, fake_time: FakeTime) -> None:
    exchange = router.post(EXCHANGE).mock(side_effect=Exchanges(fake_time))
    repo = router.get(REPO).mock(
        return_value=httpx.Response(401, json={"message": "Bad credentials"})
    )
    gh = connector(fake_time, installation_id="77")

    with pytest.raises(FatalUpstreamError) as caught:
        await gh.client.get_json("/repos/octo/repo")
    assert caught.value.status == 401
    assert exchange.call_count == 2 and repo.call_count == 2
    assert "ghs_" not in str(caught.value) and "PRIVATE KEY" not in str(caught.value)


async def test_the_installation_is_found_from_the_repository(router, fake_time: FakeTime) -> None:
    lookup = router.get(f"{REPO}/installation").mock(
        return_value=httpx.Response(200, json={"id": 77, "app_id": 123})
    )
    exchange = router.post(EXCHANGE).mock(side_effect=Exchanges(fake_time))
    router.get(REPO).mock(side_effect=repo_answer)
    gh = connector(fake_time)

    await gh.client.get_json("/repos/octo/repo")
    await gh.client.get_json("/repos/octo/repo")

    assert lookup.call_count == 1 and exchange.call_count == 1
    jwt_used = lookup.calls[0].request.headers["authorization"].removeprefix("Bearer ")
    assert jwt.decode(jwt_used, public_key(), algorithms=["RS256"], options={"verify_exp": False})


async def test_the_budget_is_tracked_per_installation(router, fake_time: FakeTime) -> None:
    router.post(EXCHANGE).mock(side_effect=Exchanges(fake_time))
    reset = int((fake_time.now + timedelta(minutes=10)).timestamp())
    headers = {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "100",
        "x-ratelimit-reset": str(reset),
        "x-ratelimit-resource": "core",
    }
    router.get(REPO).mock(return_value=httpx.Response(200, json={}, headers=headers))
    first = connector(fake_time, installation_id="77")
    await first.client.get_json("/repos/octo/repo")
    second = connector(fake_time, installation_id="77")
    await second.client.get_json("/repos/octo/repo")

    # The second connector waited for the reset: it knew the installation's budget was at its floor.
    assert fake_time.waits == [601.0]
    assert second.stats.rate_limit["core"].remaining == 100


def test_incomplete_app_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="app_id"):
        AppCredentials.from_mapping({"private_key": private_key()})
    assert AppCredentials.from_mapping({"token": "ghp_x"}) is None


def writer(fake_time: FakeTime, scope: dict, **credentials: object) -> GitHubLabelWriter:
    creds = {"app_id": "123", "private_key": private_key(), **credentials}
    return GitHubLabelWriter(BASE, creds, scope=scope, sleep=fake_time.sleep, clock=fake_time.clock)


async def test_the_label_writer_writes_with_the_apps_installation_token(
    router, fake_time: FakeTime
) -> None:
    lookup = router.get(f"{BASE}/orgs/octo/installation").mock(
        return_value=httpx.Response(200, json={"id": 77, "app_id": 123})
    )
    exchange = router.post(EXCHANGE).mock(side_effect=Exchanges(fake_time))
    labels = router.post(f"{REPO}/issues/7/labels").mock(return_value=httpx.Response(200, json=[]))
    removed = router.delete(f"{REPO}/issues/7/labels/old").mock(
        return_value=httpx.Response(200, json=[])
    )
    client = writer(fake_time, {"org": "octo"})

    await client.change_labels("octo/repo#7", ["initiative:a", "initiative:b"], ["old"])

    # One installation look-up and one exchange serve all three writes (an org scope finds
    # the installation from the org); every write carries the installation token.
    assert (lookup.call_count, exchange.call_count) == (1, 1)
    assert (labels.call_count, removed.call_count) == (2, 1)
    sent = [c.request.headers["authorization"] for c in [*removed.calls, *labels.calls]]
    assert sent == ["Bearer ghs_1"] * 3
    # Paced per App like a PAT: one second between writes.
    assert fake_time.waits == [1.0, 1.0]
    assert "ghs_1" not in repr(client) and private_key() not in repr(client)
    await client.aclose()


async def test_the_label_writer_uses_a_given_installation_id(router, fake_time: FakeTime) -> None:
    exchange = router.post(EXCHANGE).mock(side_effect=Exchanges(fake_time))
    labels = router.post(f"{REPO}/issues/7/labels").mock(return_value=httpx.Response(200, json=[]))
    client = writer(fake_time, {}, installation_id=77)
    await client.change_labels("octo/repo#7", ["initiative:a"], [])
    assert (exchange.call_count, labels.call_count) == (1, 1)
    await client.aclose()


def test_the_label_writer_refuses_incomplete_app_credentials(fake_time: FakeTime) -> None:
    with pytest.raises(ValueError, match="installation_id"):
        writer(fake_time, {})
    with pytest.raises(ValueError, match="'app_id' and 'private_key'"):
        GitHubLabelWriter(BASE, {"private_key": private_key()})
    with pytest.raises(ValueError, match="need a 'token' or GitHub App credentials"):
        GitHubLabelWriter(BASE, {})
