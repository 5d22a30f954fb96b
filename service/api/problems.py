"""Every 4xx/5xx leaves as RFC 9457 `application/problem+json`, never a stack trace."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.api.common import Problem
from service.errors import ServiceError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    cleaned = []
    for error in errors:
        cleaned.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return cleaned


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return problem(exc.status, exc.detail, title=exc.title, errors=exc.errors, **exc.extra)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_errors(exc.errors())
    fields = ", ".join(".".join(e["loc"][1:] or e["loc"]) + f": {e['msg']}" for e in errors[:5])
    return problem(422, f"request validation failed: {fields}", errors=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such route"
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "database unavailable", extra={"path": request.url.path, "error": type(exc).__name__}
    )
    return problem(503, "the database is unavailable; retry later", headers={"Retry-After": "5"})


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # Input that passed validation but that the database cannot store (a safety net).
    logger.warning("database refused a value", extra={"path": request.url.path})
    return problem(422, "a value is out of the range the store accepts")


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem(500, "internal error; see the service log for the request id")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OverflowError, _data_error)
    app.add_exception_handler(DBAPIError, _unhandled)
    app.add_exception_handler(Exception, _unhandled)


# 400: a request body that is not JSON at all (FastAPI refuses it before validation).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "model": Problem,
        "description": HTTPStatus(code).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for code in (400, 401, 403, 404, 409, 422)
}
