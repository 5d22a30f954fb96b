"""Stateful run: Schemathesis follows the OpenAPI links from each create to the item's read, update
and delete, with its default checks, on both backends, and finds no failure.

The run covers the create, read, update and delete operations of objectives, key results,
initiatives and mapping rules; the other operations (lists, progress, history, sources,
subscriptions, API keys, ...) are left to the stateless run, so the step budget goes to chains.
The API key goes in the schema's configured headers (passed as call arguments, calls got 401s).
Four things make the chains happen with Schemathesis 4.32:

- Its dependency analysis names resources after the response models (`ObjectivePublic`), so it
  takes `objective_id`, `parent_id`, ... for references to resources nothing produces and leaves
  these creates out of the operations that may start a scenario; here every POST may.
- A key result needs an existing objective and a mapping rule an existing initiative: extra links
  (test-side) feed the parent's id into the child's create.
- The update right after a create sends fields of the created item back (the `PATCH` link from
  the create carries a body); generated update bodies are mostly refused, so chains stalled there.
- Each scenario starts from emptied tables (API keys kept), so a replayed scenario meets the same
  responses: with state carried over, Hypothesis reports "inconsistent data generation".

Schema-valid data may still get a documented 422 where the service checks more than the schema
states (https-only URLs, opaque page cursors, a rule's conditions and single target, fields an
update may omit but not null): the acceptance check allows 422 on top of its defaults.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections import Counter
from typing import Any, NamedTuple

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi import stateful as openapi_stateful
from sqlalchemy import text
from sqlmodel import SQLModel

from schemas.enums import Role
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store import api_keys
from service.store.db import Database

RESOURCES = {
    "objectives": "/api/v1/objectives",
    "key results": "/api/v1/key-results",
    "initiatives": "/api/v1/initiatives",
    "mapping rules": "/api/v1/admin/mapping-rules",
}
MUST_CHAIN = ("objectives", "key results", "initiatives", "mapping rules")
# A child's create gets its parent's id; other fields stay generated.
FEEDS = {
    "/api/v1/objectives": ("/api/v1/key-results", {"objective_id": "$response.body#/id"}),
    "/api/v1/initiatives": (
        "/api/v1/admin/mapping-rules",
        {
            "target": {"initiative_id": "$response.body#/id", "key_result_id": None},
            "conditions": {"project": "ENG"},
        },
    ),
}
UPDATE_FIELDS = {"/api/v1/admin/mapping-rules": ("name", "conditions", "target")}
SETTINGS = hypothesis_settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


class Call(NamedTuple):
    method: str
    path: str
    status: int
    body: Any
    via_link: bool


@pytest.fixture
async def admin_key(db: Database) -> str:
    async with db.session() as session:
        _row, key = await api_keys.create(session, "stateful", Role.admin)
    return key


def _document(app: FastAPI) -> dict[str, Any]:
    document = copy.deepcopy(app.openapi())
    paths = document["paths"]
    for parent, (child, body) in FEEDS.items():
        links = paths[parent]["post"]["responses"]["201"]["links"]
        links["CreateChild"] = {
            "operationId": paths[child]["post"]["operationId"],
            "requestBody": body,
        }
    for collection in RESOURCES.values():
        # The update right after a create sends back fields of the created item; updates reached
        # from a read keep fully generated bodies.
        for link in paths[collection]["post"]["responses"]["201"]["links"].values():
            if link["operationId"].startswith("update_"):
                fields = UPDATE_FIELDS.get(collection, ("title",))
                link["requestBody"] = {field: f"$response.body#/{field}" for field in fields}
                link["x-schemathesis"] = {"merge_body": False}
    return document


def _likely_root(operation: APIOperation, node: object, produced_anywhere: set[str]) -> bool:
    """Replaces Schemathesis's guess of which operations may start a scenario (see above)."""
    return operation.method == "post" or (
        operation.method == "get" and not operation.path_parameters
    )


def test_stateful_crud_chains(
    db: Database,
    settings: Settings,
    secret_box: SecretBox,
    admin_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(
        settings, database=Database(settings.database_url, pooled=False), secret_box=secret_box
    )
    collections = "|".join(re.escape(path) for path in RESOURCES.values())
    schema = (
        schemathesis.openapi.from_dict(_document(app))
        .include(path_regex=rf"^({collections})(/\{{[a-z_]+\}})?$")
        .exclude(method="GET", path_regex=rf"^({collections})$")
    )
    schema.app = app
    schema.config.update(headers={"Authorization": f"Bearer {admin_key}"})
    # See the module docstring: 422 is a documented answer to data the service checks further.
    acceptance = schema.config.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "422"]
    monkeypatch.setattr(openapi_stateful, "is_likely_root_transition", _likely_root)

    calls: list[Call] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every scenario starts from the same empty portfolio, so a replayed scenario meets
            # the same responses (Hypothesis requires it) and ids restart from 1.
            asyncio.run(_empty_all_but_keys(settings.database_url))

        def get_call_kwargs(self, case):  # type: ignore[no-untyped-def]
            return {"app": app, "timeout": 30}

        def step(self, input):  # type: ignore[no-untyped-def]
            # Whether this call's path id (or body) came from an earlier response via a link.
            self.via_link = input.transition is not None and input.is_applied
            return super().step(input)

        def after_call(self, response, case):  # type: ignore[no-untyped-def]
            super().after_call(response, case)
            try:
                body = response.json()
            except ValueError:
                body = None
            path, status = case.formatted_path, response.status_code
            calls.append(Call(case.method.upper(), path, status, body, self.via_link))

    started = time.monotonic()
    Machine.run(settings=SETTINGS)
    elapsed = time.monotonic() - started

    chains = _chains(calls)
    statuses = Counter(call.status for call in calls)
    followed = sum(call.via_link for call in calls)
    print(f"\nstateful run: {len(calls)} steps ({followed} through links) in {elapsed:.0f} s")
    print(f"  statuses {dict(sorted(statuses.items()))}, failures: 0")
    for name, figures in chains.items():
        print(f"  {name}: " + ", ".join(f"{key} {value}" for key, value in figures.items()))
    assert not [status for status in statuses if status >= 500], statuses
    # Every step of create → read → update → delete ran through a link for each resource; whole
    # chains on one item depend on the order Hypothesis picks links in, so they are counted
    # per resource but required in total.
    for name in MUST_CHAIN:
        steps = chains[name]
        assert min(steps["created"], steps["read"], steps["updated"], steps["deleted"]) >= 1, (
            name,
            steps,
        )
    assert sum(chains[name]["chains"] for name in MUST_CHAIN) >= 1, chains


async def _empty_all_but_keys(url: str) -> None:
    database = Database(url, pooled=False)
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables) if t.name != "api_key"]
    try:
        async with database.engine.begin() as conn:
            if database.is_postgres:
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                await conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
                for table in tables:
                    await conn.execute(text(f"DELETE FROM {table}"))
    finally:
        await database.dispose()


def _chains(calls: list[Call]) -> dict[str, Counter[str]]:
    """Per resource: items created, reads, updates and deletes that took an item's id from a
    link, and the items that were read, updated and then deleted that way (a chain)."""
    figures: dict[str, Counter[str]] = {}
    for name, collection in RESOURCES.items():
        item = re.compile(re.escape(collection) + r"/(\d+)$")
        done: dict[int, set[str]] = {}
        counts = Counter({"created": 0, "read": 0, "updated": 0, "deleted": 0, "chains": 0})
        for call in calls:
            if call.method == "POST" and call.path == collection and call.status == 201:
                done[call.body["id"]] = set()  # ids restart with each scenario
                counts["created"] += 1
                continue
            match = item.match(call.path)
            if match is None or not call.via_link or int(match[1]) not in done:
                continue
            steps = done[int(match[1])]
            if call.method == "GET" and call.status == 200:
                steps.add("read")
                counts["read"] += 1
            elif call.method == "PATCH" and call.status == 200:
                steps.add("update")
                counts["updated"] += 1
            elif call.method == "DELETE" and call.status == 204:
                counts["deleted"] += 1
                counts["chains"] += {"read", "update"} <= steps
                del done[int(match[1])]
        figures[name] = counts
    return figures
