"""Admin pages for mapping rules: the ordered list with reordering, the rule form with a live
preview, saving (with what saving changed), versions, deletion.

The preview is `service.rules.preview.preview`, the function `POST …/mapping-rules/preview`
uses, and it computes the very plan that saving writes: the counts shown before saving are
the links saving adds and removes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.rules import RuleCreate, RulePreview, RulePreviewRequest, RuleUpdate
from schemas.enums import ItemKind, StatusCategory
from schemas.tables import MappingRule
from service.api.deps import PathId, SessionDep
from service.errors import ServiceError, Unprocessable
from service.rules import apply, preview, versions
from service.web import admin_queries
from service.web.admin_pages import render_admin
from service.web.deps import AdminPage, CsrfForm, redirect
from service.web.rule_form import (
    RuleFormInvalid,
    changes_between,
    describe_conditions,
    form_values,
    rule_of,
    service_field_errors,
    typed_values,
)

router = APIRouter(prefix="/admin/rules")

NEW_RULE_DEFAULTS = {"priority": "100", "enabled": "on"}


def _texts(form: CsrfForm) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _choices(session: AsyncSession) -> dict[str, Any]:
    names = await admin_queries.source_names(session)
    targets = await admin_queries.target_choices(session)
    return {
        "targets": [(c.value, c.text) for c in targets],
        "target_titles": {c.value: c.text for c in targets},
        "source_options": [(str(i), n) for i, n in names.items()],
        "kind_options": [(k.value, k.value.replace("_", " ")) for k in ItemKind],
        "status_options": [(s.value, s.value.replace("_", " ")) for s in StatusCategory],
    }


async def _run_preview(
    session: AsyncSession, rule_id: int | None, typed: dict[str, str]
) -> tuple[RulePreview | None, dict[str, str]]:
    try:
        rule = rule_of(typed)
        return await preview.preview(session, RulePreviewRequest(rule_id=rule_id, rule=rule)), {}
    except RuleFormInvalid as exc:
        return None, exc.errors
    except ServiceError as exc:
        await session.rollback()
        return None, service_field_errors(exc)


async def _form_page(
    request: Request,
    session: AsyncSession,
    *,
    rule: MappingRule | None,
    values: dict[str, str],
    errors: dict[str, str],
    result: RulePreview | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "rule": rule,
        "values": values,
        "errors": errors,
        "preview": result,
        **await _choices(session),
    }
    if rule is not None and rule.id is not None:
        history = list(await versions.list_versions(session, rule.id))
        context["versions"] = [
            (v, changes_between(history[n - 1].snapshot if n else None, v.snapshot))
            for n, v in enumerate(history)
        ][::-1]
        context["linked_now"] = await admin_queries.links_of_rule(session, rule.id)
        context["saved"] = _saved(request)
    return render_admin(request, "admin/rule_form.html", context, status_code=status_code)


def _saved(request: Request) -> dict[str, int] | None:
    params = request.query_params
    if not params.get("saved", "").isdigit():
        return None
    return {
        "version": int(params["saved"]),
        "linked": int(params.get("linked", "0") or 0),
        "unlinked": int(params.get("unlinked", "0") or 0),
    }


@router.get("")
async def rules_page(request: Request, user: AdminPage, session: SessionDep) -> Response:
    rules = await apply.list_rules(session)
    names = await admin_queries.source_names(session)
    titles = await admin_queries.target_titles(session)
    rows = [
        {
            "rule": r,
            "conditions": describe_conditions(r.conditions, names),
            "target": titles.get(
                f"{r.target_type}:{r.target_id}", f"{r.target_type} {r.target_id}"
            ),
        }
        for r in rules
    ]
    return render_admin(
        request,
        "admin/rules.html",
        {
            "rows": rows,
            "has_targets": bool(titles),
            "reordered": "reordered" in request.query_params,
        },
    )


@router.post("/reorder")
async def reorder_rules(
    request: Request, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    """Move one rule up or down (`move` = `<id>:up` or `<id>:down`); priorities become 10, 20, …"""
    ids = [r.id for r in await apply.list_rules(session) if r.id is not None]
    rule_text, _, direction = str(form.get("move") or "").partition(":")
    if not rule_text.isdigit() or int(rule_text) not in ids or direction not in ("up", "down"):
        raise Unprocessable("choose a rule to move up or down")
    at = ids.index(int(rule_text))
    to = at - 1 if direction == "up" else at + 1
    if 0 <= to < len(ids):
        ids[at], ids[to] = ids[to], ids[at]
        await apply.reorder(session, ids, author=user.name)
    return redirect("/admin/rules?reordered=1")


@router.get("/new")
async def new_rule_page(request: Request, user: AdminPage, session: SessionDep) -> Response:
    values = dict(NEW_RULE_DEFAULTS)
    if target := request.query_params.get("target"):
        values["target"] = target
    return await _form_page(request, session, rule=None, values=values, errors={})


@router.post("/preview")
async def preview_fragment(
    request: Request, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    """The preview section alone, for the form's live preview (the same as its Preview button)."""
    typed = _texts(form)
    rule_id_text = typed.get("rule_id", "")
    rule_id = int(rule_id_text) if rule_id_text.isdigit() else None
    result, errors = await _run_preview(session, rule_id, typed)
    titles = await admin_queries.target_titles(session)
    return render_admin(
        request,
        "admin/_rule_preview.html",
        {"preview": result, "errors": errors, "target_titles": titles},
    )


async def _save(
    request: Request,
    session: AsyncSession,
    user: AdminPage,
    rule: MappingRule | None,
    typed: dict[str, str],
) -> Response:
    try:
        data: RuleCreate = rule_of(typed)
        head = await admin_queries.feed_head(session)
        if rule is None:
            saved = await apply.create(session, data, author=user.name)
        else:
            assert rule.id is not None
            update = RuleUpdate.model_validate(data.model_dump())
            saved = await apply.update(session, rule.id, update, author=user.name)
    except (RuleFormInvalid, ServiceError) as exc:
        await session.rollback()
        if rule is not None:
            await session.refresh(rule)
        errors = exc.errors if isinstance(exc, RuleFormInvalid) else service_field_errors(exc)
        status = 422 if isinstance(exc, RuleFormInvalid) else exc.status
        return await _form_page(
            request,
            session,
            rule=rule,
            values=typed_values(typed),
            errors=errors,
            status_code=status,
        )
    written = await admin_queries.link_changes_since(
        session, head, f"rule:{saved.id}@{saved.version}"
    )
    return redirect(
        f"/admin/rules/{saved.id}?saved={saved.version}"
        f"&linked={written.get('link.added', 0)}&unlinked={written.get('link.removed', 0)}"
    )


@router.post("/new")
async def create_rule(
    request: Request, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    typed = _texts(form)
    if form.get("action") == "preview":
        result, errors = await _run_preview(session, None, typed)
        return await _form_page(
            request, session, rule=None, values=typed_values(typed), errors=errors, result=result
        )
    return await _save(request, session, user, None, typed)


@router.get("/{rule_id}")
async def rule_page(
    request: Request, rule_id: PathId, user: AdminPage, session: SessionDep
) -> Response:
    rule = await apply.get(session, rule_id)
    return await _form_page(request, session, rule=rule, values=form_values(rule), errors={})


@router.post("/{rule_id}")
async def update_rule(
    request: Request, rule_id: PathId, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    rule = await apply.get(session, rule_id)
    typed = _texts(form)
    if form.get("action") == "preview":
        result, errors = await _run_preview(session, rule_id, typed)
        return await _form_page(
            request, session, rule=rule, values=typed_values(typed), errors=errors, result=result
        )
    return await _save(request, session, user, rule, typed)


@router.post("/{rule_id}/delete")
async def delete_rule(
    request: Request, rule_id: PathId, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    await apply.delete(session, rule_id, author=user.name)
    return redirect("/admin/rules?deleted=1")
