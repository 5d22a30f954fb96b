"""Field write-back settings: a Projects v2 field (GitHub only, never a field the sync reads)
and a Jira custom field (Jira only, a discovered text or select field)."""

import pytest
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Source, WriteBackState
from service.security import SecretBox
from service.store.db import Database

from .support import add_source, enable, path
from .test_api_and_worker import github_source, linked_github_item

TARGET = {"owner": "acme", "number": 1, "field": "Initiative"}


async def jira_source(db: Database, box: SecretBox) -> int:
    credentials = {"email": "a@b.c", "api_token": "t0123456"}
    return await add_source(
        db, box, "jira", "https://example.atlassian.net", credentials, projects=["PLAT"]
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({**TARGET, "field": "Status"}, "read by the sync"),
        ({**TARGET, "field": "estimate"}, "read by the sync"),
        ({"owner": "acme", "field": "Initiative"}, "number"),
        ({**TARGET, "owner_type": "team"}, "owner_type"),
    ],
)
async def test_refused_project_fields_change_nothing(
    db, client, admin_headers, secret_box, target, message
) -> None:
    source = await github_source(db, secret_box)
    body = {"enabled": True, "project_field": target}
    response = await client.put(path(source), json=body, headers=admin_headers)
    assert response.status_code == 422 and message in response.text
    assert (await client.get(path(source), headers=admin_headers)).json()["enabled"] is False


async def test_project_field_is_github_only_and_stored(
    db, client, admin_headers, secret_box
) -> None:
    jira = await jira_source(db, secret_box)
    body = {"enabled": True, "project_field": TARGET}
    refused = await client.put(path(jira), json=body, headers=admin_headers)
    assert refused.status_code == 422 and "GitHub sources only" in refused.text

    source = await github_source(db, secret_box)
    stored = await client.put(path(source), json=body, headers=admin_headers)
    assert stored.status_code == 200, stored.text
    read = (await client.get(path(source), headers=admin_headers)).json()
    assert read["project_field"] == {**TARGET, "owner_type": "organization"}


async def test_jira_custom_field_must_be_a_discovered_text_or_select_field(
    db, client, admin_headers, secret_box
) -> None:
    github = await github_source(db, secret_box)
    body = {"enabled": True, "jira_custom_field": "customfield_10060"}
    refused = await client.put(path(github), json=body, headers=admin_headers)
    assert refused.status_code == 422 and "Jira sources only" in refused.text

    jira = await jira_source(db, secret_box)
    undiscovered = await client.put(path(jira), json=body, headers=admin_headers)
    assert undiscovered.status_code == 422 and "check the source" in undiscovered.text
    async with db.session() as session:
        source = await session.get(Source, jira)
        assert source is not None
        source.discovered = {
            "writable_fields": [{"id": "customfield_10060", "name": "Note", "type": "text"}]
        }
        session.add(source)
    stored = await client.put(path(jira), json=body, headers=admin_headers)
    assert stored.status_code == 200, stored.text
    other = {"enabled": True, "jira_custom_field": "customfield_10061"}
    assert (await client.put(path(jira), json=other, headers=admin_headers)).status_code == 422
    malformed = {"enabled": True, "jira_custom_field": "labels"}
    assert (await client.put(path(jira), json=malformed, headers=admin_headers)).status_code == 422
    assert (await client.get(path(jira), headers=admin_headers)).json()["jira_custom_field"] == (
        "customfield_10060"
    )


async def _field_row(session, item_id: int) -> WriteBackState:
    rows = await session.execute(
        select(WriteBackState).where(
            col(WriteBackState.work_item_id) == item_id,
            col(WriteBackState.field) == "project_field",
        )
    )
    return rows.scalar_one()


async def test_pointing_the_field_elsewhere_writes_every_item_again(
    db, client, admin_headers, secret_box
) -> None:
    source, keys = await linked_github_item(db, client, admin_headers, secret_box)
    item_id = keys["octo/repo#1"]
    await enable(client, admin_headers, source, project_field=TARGET)
    async with db.session() as session:  # as the worker records a done write
        row = await _field_row(session, item_id)
        row.written, row.status = ["Checkout revamp"], "synced"
        session.add(row)
    # Unchanged settings keep what was written.
    await enable(client, admin_headers, source, project_field=TARGET)
    async with db.session() as session:
        assert (await _field_row(session, item_id)).status == "synced"

    await enable(client, admin_headers, source, project_field={**TARGET, "field": "Theme"})
    async with db.session() as session:
        row = await _field_row(session, item_id)
    assert (row.desired, row.written, row.status) == (
        ["Checkout revamp"],
        [],
        "pending",
    )
