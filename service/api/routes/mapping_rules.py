from collections.abc import Sequence

from fastapi import APIRouter, Response

from schemas.api.rules import (
    RuleCreate,
    RulePreview,
    RulePreviewRequest,
    RulePublic,
    RuleReorder,
    RuleUpdate,
    RuleVersionPublic,
)
from schemas.tables import MappingRule
from service.api.deps import AdminDep, PathId, SessionDep
from service.api.problems import PROBLEM_RESPONSES
from service.rules import apply, preview, versions

router = APIRouter(
    prefix="/api/v1/admin/mapping-rules", tags=["mapping rules"], responses=PROBLEM_RESPONSES
)


def _public(rule: MappingRule) -> RulePublic:
    assert rule.id is not None
    return RulePublic(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        enabled=rule.enabled,
        conditions=rule.conditions,
        target={f"{rule.target_type}_id": rule.target_id},
        version=rule.version,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def _many(rules: Sequence[MappingRule]) -> list[RulePublic]:
    return [_public(r) for r in rules]


@router.get("", response_model=list[RulePublic], summary="List rules in evaluation order")
async def list_rules(session: SessionDep, _: AdminDep) -> list[RulePublic]:
    return _many(await apply.list_rules(session))


@router.post("", response_model=RulePublic, status_code=201)
async def create_rule(body: RuleCreate, session: SessionDep, principal: AdminDep) -> RulePublic:
    """Create a rule (version 1) and apply it to the items it matches."""
    return _public(await apply.create(session, body, author=principal.name))


@router.post("/preview", response_model=RulePreview)
async def preview_rule(body: RulePreviewRequest, session: SessionDep, _: AdminDep) -> RulePreview:
    """What saving this rule would link and unlink, without writing anything."""
    return await preview.preview(session, body)


@router.post("/reorder", response_model=list[RulePublic])
async def reorder_rules(
    body: RuleReorder, session: SessionDep, principal: AdminDep
) -> list[RulePublic]:
    return _many(await apply.reorder(session, body.rule_ids, author=principal.name))


@router.get("/{rule_id}", response_model=RulePublic)
async def get_rule(rule_id: PathId, session: SessionDep, _: AdminDep) -> RulePublic:
    return _public(await apply.get(session, rule_id))


@router.patch("/{rule_id}", response_model=RulePublic)
async def update_rule(
    rule_id: PathId, body: RuleUpdate, session: SessionDep, principal: AdminDep
) -> RulePublic:
    """Save a new version and re-apply it where the old or new version can match."""
    return _public(await apply.update(session, rule_id, body, author=principal.name))


@router.delete("/{rule_id}", status_code=204, response_class=Response)
async def delete_rule(rule_id: PathId, session: SessionDep, principal: AdminDep) -> None:
    await apply.delete(session, rule_id, author=principal.name)


@router.get("/{rule_id}/versions", response_model=list[RuleVersionPublic])
async def list_rule_versions(
    rule_id: PathId, session: SessionDep, _: AdminDep
) -> list[RuleVersionPublic]:
    await apply.get(session, rule_id)
    return [
        RuleVersionPublic.model_validate(v, from_attributes=True)
        for v in await versions.list_versions(session, rule_id)
    ]
