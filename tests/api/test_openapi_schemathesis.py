"""Property-based run over /openapi.json: no 5xx, and every response matches the schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from schemas.enums import Role
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store import api_keys
from service.store.db import Database

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
async def admin_key(db: Database) -> str:
    async with db.session() as session:
        _row, key = await api_keys.create(session, "schemathesis", Role.admin)
    return key


def test_api_conforms(
    db: Database, settings: Settings, secret_box: SecretBox, admin_key: str
) -> None:
    # The test client runs the app on its own event loop, so the app gets an unpooled engine.
    app = create_app(
        settings, database=Database(settings.database_url, pooled=False), secret_box=secret_box
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {admin_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            # Long-polls may wait their full 10 s: the read timeout leaves room beyond that.
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        run()
