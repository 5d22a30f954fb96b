"""A generated corpus of malformed webhook requests, and JSON mutation helpers.

Every request is built from the real payload fixtures, then broken in one way: the signature
headers (missing, wrong, duplicated, wrong algorithm prefix, signed over other bytes), the body
(truncated, invalid or deeply nested JSON, huge numbers, invalid UTF-8, oversized), a wrong type
in one field of a real payload, an unknown event, or odd headers. Signed requests whose payload
is nonsense are part of the corpus on purpose: they must be stored and then marked `failed` or
`ignored` with a readable error, never crash the receiver or the worker.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .support import (
    GITHUB_FIXTURES,
    SECRET,
    encode,
    github_event_of,
    load_github,
    load_jira,
    sign,
)

Path = tuple[str | int, ...]

# Values of the wrong type (or the right type with a hostile value) for any field.
WRONG_VALUES: tuple[Any, ...] = (
    None,
    0,
    -1,
    1.5,
    True,
    "",
    "x",
    [],
    {},
    [None],
    {"nested": {"deeper": [1, "two", None]}},
    10**30,
    -(10**30),
    1e308,
    "\u202e\ud83d\ude00 \x7f" * 3,
    "y" * 5000,
    "2019-13-45T99:99:99Z",
    "not-a-date",
)
# Fields whose type matters most: every wrong value is tried on each of them.
KEY_PATHS_GITHUB: tuple[Path, ...] = (
    ("action",),
    ("issue",),
    ("issue", "node_id"),
    ("issue", "number"),
    ("issue", "title"),
    ("issue", "state"),
    ("issue", "state_reason"),
    ("issue", "labels"),
    ("issue", "labels", 0),
    ("issue", "labels", 0, "name"),
    ("issue", "assignee"),
    ("issue", "milestone"),
    ("issue", "updated_at"),
    ("issue", "created_at"),
    ("issue", "closed_at"),
    ("issue", "html_url"),
    ("issue", "repository_url"),
    ("repository",),
    ("repository", "full_name"),
)
KEY_PATHS_JIRA: tuple[Path, ...] = (
    ("timestamp",),
    ("webhookEvent",),
    ("issue",),
    ("issue", "id"),
    ("issue", "key"),
    ("issue", "fields"),
    ("issue", "fields", "summary"),
    ("issue", "fields", "status"),
    ("issue", "fields", "status", "statusCategory"),
    ("issue", "fields", "status", "statusCategory", "key"),
    ("issue", "fields", "issuetype"),
    ("issue", "fields", "issuetype", "name"),
    ("issue", "fields", "project"),
    ("issue", "fields", "project", "key"),
    ("issue", "fields", "labels"),
    ("issue", "fields", "updated"),
    ("issue", "fields", "created"),
    ("issue", "fields", "parent"),
    ("issue", "fields", "assignee"),
    ("issue", "fields", "customfield_10016"),
    ("issue", "fields", "customfield_10020"),
)
GITHUB_FIXTURE_NAMES = tuple(sorted(p.name for p in GITHUB_FIXTURES.glob("*.json")))
JIRA_FIXTURE_NAMES = ("issue_created", "issue_updated")


@dataclass
class HostileRequest:
    """One request: which route, its headers and raw body, and what was broken."""

    label: str
    kind: str  # "github" | "jira"
    body: bytes
    headers: list[tuple[str, str | bytes]] = field(default_factory=list)
    source: str = "own"  # "own" | "missing" (an id with no source) | a raw path segment


def leaf_paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path into a JSON value (objects and lists included, the root excluded)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from leaf_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            yield (*prefix, index)
            yield from leaf_paths(child, (*prefix, index))


def replaced(payload: Any, path: Path, value: Any) -> Any:
    """A deep copy of `payload` with the value at `path` replaced (or added)."""
    copied = copy.deepcopy(payload)
    node = copied
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = copy.deepcopy(value)
    return copied


def removed(payload: Any, path: Path) -> Any:
    copied = copy.deepcopy(payload)
    node = copied
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return copied


def has_path(payload: Any, path: Path) -> bool:
    node = payload
    for step in path:
        in_object = isinstance(node, dict) and isinstance(step, str) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and step < len(node)
        if not (in_object or in_list):
            return False
        node = node[step]
    return True


def github(
    label: str, body: bytes, event: str = "issues", *, delivery: str | None = None, **kw: Any
) -> HostileRequest:
    headers: list[tuple[str, str | bytes]] = [
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", delivery or f"hostile-{label}"),
        ("X-GitHub-Hook-ID", "292430182"),
        ("X-Hub-Signature-256", sign(body)),
    ]
    return HostileRequest(label, "github", body, headers, **kw)


def jira(label: str, body: bytes, *, identifier: str | None = None, **kw: Any) -> HostileRequest:
    headers: list[tuple[str, str | bytes]] = [
        ("Content-Type", "application/json"),
        ("X-Atlassian-Webhook-Identifier", identifier or f"hostile-{label}"),
        ("X-Hub-Signature", sign(body)),
    ]
    return HostileRequest(label, "jira", body, headers, **kw)


def _without(request: HostileRequest, name: str) -> HostileRequest:
    request.headers = [(k, v) for k, v in request.headers if k.lower() != name.lower()]
    return request


def _with(request: HostileRequest, name: str, *values: str | bytes) -> HostileRequest:
    _without(request, name)
    request.headers += [(name, v) for v in values]
    return request


def signature_cases(kind: str, body: bytes) -> Iterator[HostileRequest]:
    """Every way the signature header can be wrong, on an otherwise valid delivery."""
    make = github if kind == "github" else jira
    header = "X-Hub-Signature-256" if kind == "github" else "X-Hub-Signature"
    other = "X-Hub-Signature" if kind == "github" else "X-Hub-Signature-256"
    good = sign(body)
    digest = good.split("=", 1)[1]
    wrong_values = {
        "empty": "",
        "zeros": "sha256=" + "0" * 64,
        "wrong-secret": sign(body, "not the secret"),
        "sha1-prefix": "sha1=" + digest,
        "md5-prefix": "md5=" + digest,
        "sha512-prefix": "sha512=" + digest,
        "no-prefix": digest,
        "no-equals": "sha256" + digest,
        "truncated-digest": good[:-2],
        "extended-digest": good + "00",
        "other-body": sign(body + b" "),
        "non-hex": "sha256=" + "zz" * 32,
        "spaces-inside": "sha256= " + digest[:10] + " " + digest[10:],
        "double-prefix": "sha256=sha256=" + digest,
        "latin1-bytes": b"sha256=\xe9\xe9",
        "unicode-digits": "sha256=" + "\u0661" * 64,
    }
    for name, value in wrong_values.items():
        yield _with(make(f"{kind}-sig-{name}", body), header, value)
    yield _without(make(f"{kind}-sig-missing", body), header)
    yield _with(_without(make(f"{kind}-sig-other-header", body), header), other, good)
    yield _with(make(f"{kind}-sig-dup-bad-first", body), header, "sha256=" + "0" * 64, good)
    yield _with(make(f"{kind}-sig-dup-good-first", body), header, good, "sha256=" + "0" * 64)
    yield _with(make(f"{kind}-sig-dup-both-bad", body), header, "sha1=" + digest, "md5=" + digest)
    yield _with(make(f"{kind}-sig-comma-list", body), header, f"sha256={'0' * 64}, {good}")
    tampered = body.replace(b"a", b"b", 1)
    yield HostileRequest(
        f"{kind}-sig-body-tampered",
        kind,
        tampered,
        [(k, v) for k, v in make("x", body).headers],
    )
    yield HostileRequest(
        f"{kind}-sig-body-truncated-after-signing",
        kind,
        body[: len(body) // 2],
        [(k, v) for k, v in make("x", body).headers],
    )


def _nested(depth: int, opener: str, closer: str, inner: str = "1") -> bytes:
    return (opener * depth + inner + closer * depth).encode()


def body_cases(kind: str, valid: bytes) -> Iterator[HostileRequest]:
    """Broken bodies, each correctly signed (so the body itself is what is judged)."""
    make = github if kind == "github" else jira
    bodies: dict[str, bytes] = {
        "empty": b"",
        "whitespace": b" \n\t ",
        "null": b"null",
        "array": b"[1,2,3]",
        "string": b'"issues"',
        "number": b"42",
        "true": b"true",
        "nan": b'{"a": NaN}',
        "infinity": b'{"a": Infinity}',
        "neg-infinity": b'{"a": -Infinity}',
        "huge-exponent": b'{"action": "opened", "n": 1e999999}',
        "huge-integer": b'{"action": "opened", "n": ' + b"9" * 5000 + b"}",
        "long-integer": b'{"action": "opened", "n": ' + b"9" * 400 + b"}",
        "tiny-float": b'{"action": "opened", "n": 1e-999999}',
        "neg-zero": b'{"action": "opened", "n": -0.0}',
        "trailing-comma": b'{"action": "opened",}',
        "single-quotes": b"{'action': 'opened'}",
        "unquoted-key": b"{action: 1}",
        "comment": b'{"a": 1 /* c */}',
        "two-objects": b'{"a": 1}{"b": 2}',
        "trailing-garbage": valid + b"garbage",
        "bom": b"\xef\xbb\xbf" + valid,
        "utf16": valid.decode().encode("utf-16"),
        "utf32": valid.decode().encode("utf-32"),
        "invalid-utf8-start": b"\xff\xfe" + valid,
        "invalid-utf8-in-string": valid.replace(b'"', b'"\xc3\x28', 1),
        "overlong-utf8": b'{"action": "\xc0\xaf"}',
        "lone-surrogate-escape": b'{"action": "opened", "x": "\\ud800"}',
        "lone-surrogate-key": b'{"\\udfff": 1}',
        "nul-escape": b'{"action": "opened", "x": "a\\u0000b"}',
        "raw-nul": b'{"action": "op\x00ened"}',
        "control-chars": b'{"action": "op\x01\x02ened"}',
        "duplicate-keys": b'{"action": "opened", "action": "deleted", "issue": 1, "issue": {}}',
        "deep-array-100000": _nested(100_000, "[", "]"),
        "deep-object-100000": ('{"a":' * 100_000 + "1" + "}" * 100_000).encode(),
        "deep-array-900": b'{"x": ' + _nested(900, "[", "]") + b"}",
        "deep-object-500": ('{"x": ' + '{"a":' * 500 + "1" + "}" * 500 + "}").encode(),
        "deep-array-120": b'{"x": ' + _nested(120, "[", "]") + b"}",
        "many-keys": encode({f"k{i}": i for i in range(20_000)}),
        "long-key": encode({"k" * 100_000: 1}),
        "wide-array": encode({"x": list(range(50_000))}),
        "huge-string": encode({"action": "opened", "x": "z" * 200_000}),
    }
    for index in (1, 2, len(valid) // 3, len(valid) // 2, len(valid) - 1):
        bodies[f"truncated-{index}"] = valid[:index]
    for name, body in bodies.items():
        yield make(f"{kind}-body-{name}", body)


def oversized_cases(kind: str, cap: int) -> Iterator[HostileRequest]:
    make = github if kind == "github" else jira
    over = encode({"action": "opened", "pad": "x" * cap})
    yield make(f"{kind}-oversized-json", over)
    yield make(f"{kind}-oversized-garbage", b"\xff" * (cap + 1))
    yield make(f"{kind}-oversized-deep", b"[" * (cap + 1))


def wrong_type_cases(kind: str) -> Iterator[HostileRequest]:
    """A wrong type in every field of the real fixtures (signed: the payload is judged).

    Each distinct field path is broken once (fixtures share most of their structure), with a
    wrong value picked in turn; the fields mapping depends on get every wrong value and are
    also removed, in the first fixture of each event that has them.
    """
    names = GITHUB_FIXTURE_NAMES if kind == "github" else JIRA_FIXTURE_NAMES
    key_paths = KEY_PATHS_GITHUB if kind == "github" else KEY_PATHS_JIRA
    seen: set[tuple[str, Path]] = set()
    index = 0
    for name in names:
        payload = load_github(name) if kind == "github" else load_jira(name)
        event = github_event_of(name) if kind == "github" else ""
        for path in leaf_paths(payload):
            generic = tuple(0 if isinstance(p, int) else p for p in path)
            if ("", generic) in seen:
                continue
            seen.add(("", generic))
            value = WRONG_VALUES[index % len(WRONG_VALUES)]
            index += 1
            label = f"{name}:{_dotted(path)}={_short(value)}"
            yield _payload_case(kind, label, event, payload, path, value)
        for path in key_paths:
            if (event, ("key", *path)) in seen or not has_path(payload, path):
                continue
            seen.add((event, ("key", *path)))
            for value in WRONG_VALUES:
                label = f"{name}:{_dotted(path)}={_short(value)}!"
                yield _payload_case(kind, label, event, payload, path, value)
            yield _removed_case(kind, f"{name}:-{_dotted(path)}", event, payload, path)


def _payload_case(
    kind: str, label: str, event: str, payload: Any, path: Path, value: Any
) -> HostileRequest:
    body = json.dumps(replaced(payload, path, value)).encode()
    return github(label, body, event) if kind == "github" else jira(label, body)


def _removed_case(kind: str, label: str, event: str, payload: Any, path: Path) -> HostileRequest:
    body = json.dumps(removed(payload, path)).encode()
    return github(label, body, event) if kind == "github" else jira(label, body)


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _short(value: Any) -> str:
    return type(value).__name__ + ":" + repr(value)[:12]


def event_cases() -> Iterator[HostileRequest]:
    """Unknown or misspelled events with otherwise valid payloads, and odd headers."""
    issue = load_github("issues.opened.json")
    body = encode(issue)
    for event in (
        "unknown",
        "ISSUES",
        "issues ",
        "issue",
        "pull_request_review",
        "x" * 500,
        "ping\x00",
        "café",
        "../../etc/passwd",
        "workflow_run",
        "repository_dispatch",
        "security_advisory",
    ):
        yield github(f"github-event-{event[:20]!r}", body, event)
    yield _without(github("github-no-event-header", body), "X-GitHub-Event")
    yield _with(github("github-empty-event", body), "X-GitHub-Event", "")
    yield _without(github("github-no-delivery-header", body), "X-GitHub-Delivery")
    yield _with(github("github-empty-delivery", body), "X-GitHub-Delivery", "  ")
    yield _with(github("github-huge-delivery", body), "X-GitHub-Delivery", "d" * 8000)
    yield _with(github("github-latin1-delivery", body), "X-GitHub-Delivery", b"d\xe9livery")
    yield _with(github("github-dup-delivery", body), "X-GitHub-Delivery", "d-1", "d-2")
    yield _with(github("github-dup-event", body), "X-GitHub-Event", "issues", "ping")
    yield _with(
        github("github-form-content-type", body),
        "Content-Type",
        "application/x-www-form-urlencoded",
    )
    yield _with(github("github-text-content-type", body), "Content-Type", "text/plain")
    for action in ("", "deleted", "transferred", "x" * 1000, "sub_issue_added"):
        yield github(f"github-action-{action[:20]}", encode({**issue, "action": action}))
    for event_name in ("sub_issues", "pull_request", "milestone", "projects_v2_item"):
        yield github(f"github-{event_name}-with-issues-body", body, event_name)
    jira_payload = load_jira("issue_updated")
    for event in ("jira:issue_exploded", "", None, 7, "comment_created", "jira:issue_deleted"):
        yield jira(f"jira-event-{event!r}", encode({**jira_payload, "webhookEvent": event}))
    jira_body = encode(jira_payload)
    yield _without(jira("jira-no-identifier", jira_body), "X-Atlassian-Webhook-Identifier")
    yield _with(
        jira("jira-huge-identifier", jira_body), "X-Atlassian-Webhook-Identifier", "i" * 8000
    )
    yield _with(jira("jira-dup-identifier", jira_body), "X-Atlassian-Webhook-Identifier", "a", "b")
    for segment in ("0", "-1", "abc", "1.5", str(2**63), "99999999", "%00", "1e3"):
        yield github(f"github-source-{segment}", body, source=segment)
        yield jira(f"jira-source-{segment}", jira_body, source=segment)
    yield github("github-missing-source", body, source="missing")
    yield jira("jira-missing-source", jira_body, source="missing")
    yield github("github-jira-route-payload", jira_body, "issues")
    yield jira("jira-github-route-payload", body)


def corpus(cap: int) -> list[HostileRequest]:
    """The whole corpus; `cap` is the receiver's body limit for the oversized cases."""
    github_body = encode(load_github("issues.opened.json"))
    jira_body = encode(load_jira("issue_created"))
    requests: list[HostileRequest] = []
    for kind, body in (("github", github_body), ("jira", jira_body)):
        requests += signature_cases(kind, body)
        requests += body_cases(kind, body)
        requests += oversized_cases(kind, cap)
        requests += wrong_type_cases(kind)
    requests += event_cases()
    assert SECRET  # the corpus is signed with the test sources' secret
    return requests
