"""A record that must be written outlasts a database restart, and only that."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from service.store.db import outlasting_outage


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "recorded"


async def no_sleep(_seconds: float) -> None:
    return None


async def test_connection_errors_are_tried_again_until_the_database_is_back() -> None:
    lost = DBAPIError("SELECT 1", None, Exception("the database system is shutting down"))
    refused = ConnectionRefusedError(111, "Connection refused")
    operation = Flaky([lost, refused, OperationalError("SELECT 1", None, Exception("gone"))])
    assert await outlasting_outage(operation, sleep=no_sleep) == "recorded"
    assert operation.calls == 4


async def test_a_statement_error_is_raised_at_once() -> None:
    operation = Flaky([IntegrityError("INSERT", None, Exception("duplicate key"))])
    with pytest.raises(IntegrityError):
        await outlasting_outage(operation, sleep=no_sleep)
    assert operation.calls == 1


async def test_an_outage_longer_than_the_bound_is_raised() -> None:
    operation = Flaky([ConnectionRefusedError(111, "refused")] * 100)
    with pytest.raises(ConnectionRefusedError):
        await outlasting_outage(operation, seconds=0.0, sleep=no_sleep)
    assert operation.calls == 1
