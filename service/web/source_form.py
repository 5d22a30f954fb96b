"""The source form: HTML fields to the admin API's source models, and errors back to fields.

Secrets (token, API token, OAuth token, webhook secret) are write-only: a form is never filled
with them, and on edit a blank secret field keeps what is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from schemas.api.sources import SourceCreate, SourcePublic, SourceUpdate
from schemas.enums import SourceKind
from service.errors import ServiceError

SECRET_FIELDS = ("token", "api_token", "oauth_token", "webhook_secret")
CREDENTIAL_FIELDS = {
    SourceKind.github: ("token",),
    SourceKind.jira: ("email", "api_token", "oauth_token", "cloud_id"),
}
JIRA_SETTINGS = ("story_points_field", "sprint_field", "epic_link_field")
# Where an error about a part of the body is shown on the form.
_PART_FIELDS = {"scope": "scope", "settings": "settings", "kind": "kind"}
_PROJECT = re.compile(r"^(?:(user|organization):)?([^/\s]+)/(\d+)$")


class FormInvalid(Exception):
    """What the admin typed cannot become a source; `errors` by form field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _text(form: Mapping[str, str], name: str) -> str:
    return form.get(name, "").strip()


def _words(value: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", value) if w]


def _projects(value: str) -> list[dict[str, Any]]:
    found = []
    for word in _words(value):
        match = _PROJECT.match(word)
        if match is None:
            raise FormInvalid(
                {"github_projects": f"{word!r}: write owner/number, e.g. acme/1 or user:octo/2"}
            )
        owner_type, owner, number = match.groups()
        found.append(
            {"owner": owner, "owner_type": owner_type or "organization", "number": int(number)}
        )
    return found


def scope_of(kind: SourceKind, form: Mapping[str, str]) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    if kind == SourceKind.github:
        if repos := _words(_text(form, "github_repos")):
            scope["repos"] = repos
        if org := _text(form, "github_org"):
            scope["org"] = org
        if projects := _projects(_text(form, "github_projects")):
            scope["projects"] = projects
    else:
        if keys := [p.upper() for p in _words(_text(form, "jira_projects"))]:
            scope["projects"] = keys
        if jql := _text(form, "jira_jql"):
            scope["jql"] = jql
    return scope


def settings_of(kind: SourceKind, form: Mapping[str, str], base: Mapping[str, Any]) -> dict:
    """The source's settings with the form's Jira field ids; a blank one means discover it."""
    settings = dict(base)
    if kind == SourceKind.jira:
        for name in JIRA_SETTINGS:
            value = _text(form, name)
            if value:
                settings[name] = value
            else:
                settings.pop(name, None)
    return settings


def credentials_of(kind: SourceKind, form: Mapping[str, str]) -> dict[str, str]:
    return {n: _text(form, n) for n in CREDENTIAL_FIELDS[kind] if _text(form, n)}


def _poll(form: Mapping[str, str]) -> Any:
    value = _text(form, "poll_interval_seconds")
    return value or None


def create_body(form: Mapping[str, str]) -> SourceCreate:
    kind_text = _text(form, "kind")
    try:
        kind = SourceKind(kind_text)
    except ValueError:
        raise FormInvalid({"kind": "choose GitHub or Jira"}) from None
    body: dict[str, Any] = {
        "kind": kind,
        "name": _text(form, "name"),
        "base_url": _text(form, "base_url"),
        "credentials": credentials_of(kind, form),
        "scope": scope_of(kind, form),
        "settings": settings_of(kind, form, {}),
        "enabled": form.get("enabled") == "on",
    }
    if (poll := _poll(form)) is not None:
        body["poll_interval_seconds"] = poll
    if secret := _text(form, "webhook_secret"):
        body["webhook_secret"] = secret
    return _validated(SourceCreate, body)


def update_body(source: SourcePublic, form: Mapping[str, str]) -> SourceUpdate:
    """Every visible field is sent; secrets only when typed (blank keeps the stored ones)."""
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "base_url": _text(form, "base_url"),
        "scope": scope_of(source.kind, form),
        "settings": settings_of(source.kind, form, source.settings),
        "enabled": form.get("enabled") == "on",
        "poll_interval_seconds": _poll(form) or source.poll_interval_seconds,
    }
    if credentials := credentials_of(source.kind, form):
        # The stored credentials cannot be read back to merge with: give a complete set.
        body["credentials"] = credentials
    if form.get("remove_webhook_secret") == "on":
        body["webhook_secret"] = None
    elif secret := _text(form, "webhook_secret"):
        body["webhook_secret"] = secret
    return _validated(SourceUpdate, body)


def _validated(model: Any, body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise FormInvalid(field_errors([dict(e) for e in exc.errors()])) from None


def field_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The form field of each error: `credentials.token` → `token`, `scope` → `scope`."""
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if str(p) != "body"]
        if not loc:
            field = "__all__"
        elif loc[0] == "credentials":
            field = loc[1] if len(loc) > 1 else "credentials"
        else:
            field = _PART_FIELDS.get(loc[0], loc[0])
        found.setdefault(
            field, str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        )
    return found


def service_field_errors(exc: ServiceError) -> dict[str, str]:
    return field_errors(exc.errors) if exc.errors else {"__all__": exc.detail}


def form_values(source: SourcePublic) -> dict[str, str]:
    """A stored source as form fields (no secrets: they are never read back)."""
    scope, settings = source.scope, source.settings
    values = {
        "kind": source.kind.value,
        "name": source.name,
        "base_url": source.base_url,
        "poll_interval_seconds": str(source.poll_interval_seconds),
        "enabled": "on" if source.enabled else "",
    }
    if source.kind == SourceKind.github:
        values["github_repos"] = ", ".join(scope.get("repos") or [])
        values["github_org"] = str(scope.get("org") or "")
        values["github_projects"] = ", ".join(
            ("" if p.get("owner_type", "organization") == "organization" else "user:")
            + f"{p['owner']}/{p['number']}"
            for p in scope.get("projects") or []
        )
    else:
        values["jira_projects"] = ", ".join(scope.get("projects") or [])
        values["jira_jql"] = str(scope.get("jql") or "")
        for name in JIRA_SETTINGS:
            values[name] = str(settings.get(name) or "")
    return values


def typed_values(form: Mapping[str, str]) -> dict[str, str]:
    """What was typed, to fill the form again after an error, minus every secret."""
    return {
        k: v
        for k, v in form.items()
        if isinstance(v, str) and k not in SECRET_FIELDS and k != "csrf_token"
    }
