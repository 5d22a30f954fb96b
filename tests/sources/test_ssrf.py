import pytest

from service.errors import Unprocessable
from service.sources.ssrf import check_upstream_url

from .conftest import fake_resolver

FORBIDDEN = [
    ("https://10.1.2.3", "private"),
    ("https://172.16.0.1", "private"),
    ("https://192.168.1.10", "private"),
    ("https://100.64.0.1", "private"),
    ("https://127.0.0.1", "loopback"),
    ("https://[::1]", "loopback"),
    ("https://169.254.169.254", "link-local"),
    ("https://[fe80::1]", "link-local"),
    ("https://[fc00::1]", "unique-local"),
    ("https://[fd12:3456::1]", "unique-local"),
    ("https://224.0.0.1", "multicast"),
    ("https://[ff02::1]", "multicast"),
    ("https://0.0.0.0", "unspecified"),
    ("https://[::]", "unspecified"),
    ("https://[::ffff:127.0.0.1]", "loopback"),
    ("https://internal.example", "private"),
    ("https://metadata.example", "link-local"),
    ("https://v6local.example", "unique-local"),
    ("https://mixed.example", "loopback"),
]


@pytest.mark.parametrize(("url", "kind"), FORBIDDEN)
async def test_internal_addresses_are_refused_with_a_422_naming_base_url(url: str, kind: str):
    with pytest.raises(Unprocessable) as refused:
        await check_upstream_url(url, allow_private=False, resolver=fake_resolver)
    assert refused.value.status == 422
    assert refused.value.detail.startswith("base_url:")
    assert f"a {kind} address" in refused.value.detail
    assert refused.value.errors and refused.value.errors[0]["loc"] == ["body", "base_url"]


@pytest.mark.parametrize("url", [url for url, _ in FORBIDDEN] + ["http://10.0.0.1:8080"])
async def test_the_setting_allows_internal_hosts_and_http(url: str):
    await check_upstream_url(url, allow_private=True, resolver=fake_resolver)


@pytest.mark.parametrize(
    "url",
    ["https://api.github.com", "https://acme.atlassian.net/", "https://140.82.112.6/api/v3"],
)
async def test_public_https_hosts_pass(url: str):
    await check_upstream_url(url, allow_private=False, resolver=fake_resolver)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://api.github.com", "must use https"),
        ("ftp://api.github.com", "must use https"),
        ("https://", "has no host"),
        ("https://user:pw@api.github.com", "must not carry credentials"),
        ("https://nowhere.invalid", "cannot be resolved"),
        ("https://api.github.com:99999", "not a valid URL"),
    ],
)
async def test_malformed_or_plain_http_urls_are_refused(url: str, message: str):
    with pytest.raises(Unprocessable, match=message):
        await check_upstream_url(url, allow_private=False, resolver=fake_resolver)


async def test_api_refuses_an_internal_base_url_on_create_and_patch(
    client, admin_headers, settings
) -> None:
    body = {
        "kind": "github",
        "name": "gh",
        "base_url": "https://169.254.169.254/latest",
        "credentials": {"token": "ghp_x"},
        "scope": {"repos": ["o/r"]},
    }
    refused = await client.post("/api/v1/admin/sources", json=body, headers=admin_headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "base_url"]
    assert "link-local" in refused.json()["detail"]

    body["base_url"] = "https://api.github.com"
    created = await client.post("/api/v1/admin/sources", json=body, headers=admin_headers)
    assert created.status_code == 201
    patch = await client.patch(
        f"/api/v1/admin/sources/{created.json()['id']}",
        json={"base_url": "http://internal.example"},
        headers=admin_headers,
    )
    assert patch.status_code == 422 and "https" in patch.json()["detail"]


async def test_api_accepts_internal_upstreams_when_allowed(client, admin_headers, app) -> None:
    app.state.settings = app.state.settings.model_copy(update={"allow_private_upstreams": True})
    body = {
        "kind": "jira",
        "name": "lab",
        "base_url": "http://10.0.0.5:8080",
        "credentials": {"email": "a@b.c", "api_token": "t"},
        "scope": {"projects": ["LAB"]},
    }
    created = await client.post("/api/v1/admin/sources", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
