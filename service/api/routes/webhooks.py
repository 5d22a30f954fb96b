"""Webhook endpoints: the signature is the authentication (no API key)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request, Response

from schemas.api.common import Problem
from schemas.api.webhooks import WebhookAck
from schemas.enums import SourceKind
from service.api.deps import DatabaseDep, PathId, SecretBoxDep, SettingsDep
from service.api.problems import PROBLEM_JSON, problem
from service.errors import BadRequest, PayloadTooLarge
from service.webhooks import receiver, worker

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {
        "model": Problem,
        "description": HTTPStatus(code).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for code in (400, 401, 404, 413, 422, 503)
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": WebhookAck, "description": "Already received (a redelivery), or a `ping`."},
    202: {"model": WebhookAck, "description": "Stored; it is applied in the background."},
    **_PROBLEMS,
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=_RESPONSES)


async def read_capped_body(request: Request, cap: int) -> bytes:
    """The raw body, refused (413) as soon as it exceeds `cap`: never buffered past the cap."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > cap:
            raise PayloadTooLarge(f"the body exceeds the {cap}-byte webhook limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise PayloadTooLarge(f"the body exceeds the {cap}-byte webhook limit")
    return bytes(body)


def source_cache(request: Request) -> receiver.SourceCache:
    cache: receiver.SourceCache | None = getattr(request.app.state, "webhook_sources", None)
    if cache is None:
        cache = request.app.state.webhook_sources = receiver.SourceCache()
    return cache


async def _receive(
    kind: SourceKind,
    source_id: int,
    request: Request,
    response: Response,
    db: DatabaseDep,
    secret_box: SecretBoxDep,
    settings: SettingsDep,
) -> WebhookAck | Response:
    gate = worker.receiver_gate(request.app)
    gate.enter()
    try:
        body = await read_capped_body(request, settings.webhook_max_body_bytes)
        receipt = await receiver.receive(
            db,
            secret_box,
            kind,
            source_id,
            dict(request.headers),
            body,
            sources=source_cache(request),
        )
    except receiver.InboxUnavailable as exc:
        return problem(503, exc.detail, headers={"Retry-After": str(exc.retry_after)})
    finally:
        gate.leave()
    worker.wake(request.app)
    response.status_code = receipt.http_status
    return WebhookAck(
        id=receipt.id,
        delivery_id=receipt.delivery_id,
        status=receipt.status,
        duplicate=receipt.duplicate,
    )


@router.post("/github/{source_id}", status_code=202, response_model=WebhookAck, openapi_extra=_BODY)
async def github_webhook(
    source_id: PathId,
    request: Request,
    response: Response,
    db: DatabaseDep,
    secret_box: SecretBoxDep,
    settings: SettingsDep,
) -> WebhookAck | Response:
    """A GitHub repository or organisation webhook (content type `application/json`).

    Needs `X-Hub-Signature-256`, `X-GitHub-Event` and `X-GitHub-Delivery`; deduplicated on
    `X-GitHub-Hook-ID` + `X-GitHub-Delivery`.
    """
    return await _receive(SourceKind.github, source_id, request, response, db, secret_box, settings)


@router.post("/jira/{source_id}", status_code=202, response_model=WebhookAck, openapi_extra=_BODY)
async def jira_webhook(
    source_id: PathId,
    request: Request,
    response: Response,
    db: DatabaseDep,
    secret_box: SecretBoxDep,
    settings: SettingsDep,
) -> WebhookAck | Response:
    """A Jira Cloud admin webhook with a secret (`X-Hub-Signature: sha256=...`).

    Deduplicated on `X-Atlassian-Webhook-Identifier`, else on a hash of the body.
    """
    return await _receive(SourceKind.jira, source_id, request, response, db, secret_box, settings)
