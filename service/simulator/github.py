"""GitHub REST under `/github`: issues (with PRs), repos, milestones, org repos, rate limits."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from service.simulator import github_render as render
from service.simulator.github_app import require_valid_token
from service.simulator.github_data import GhIssue, GitHubData, Repo
from service.simulator.ratelimit import Budget
from service.simulator.responses import GITHUB_JSON, UpstreamError, dumps, link_header
from service.simulator.state import SimulatorState
from service.simulator.words import GITHUB_USERS

DOCS = "https://docs.github.com/rest"


def sim(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.sim
    return state


StateDep = Annotated[SimulatorState, Depends(sim)]


def github_error(state: SimulatorState, status: int, message: str) -> UpstreamError:
    payload = {"message": message, "documentation_url": DOCS, "status": str(status)}
    state.core.consume()
    return UpstreamError(status, payload, state.core.headers(), github=True)


def require_budget(state: StateDep) -> None:
    budget = state.core
    budget.refresh()
    if budget.remaining > 0:
        return
    headers = {**budget.headers(), "retry-after": str(budget.seconds_to_reset())}
    payload = {
        "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
        "for help, please include the request ID and timestamp.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        "status": str(state.config.rate_limit_status),
    }
    raise UpstreamError(state.config.rate_limit_status, payload, headers, github=True)


router = APIRouter(
    prefix="/github", dependencies=[Depends(require_valid_token), Depends(require_budget)]
)
# Endpoints that GitHub serves even when the budget is spent.
free_router = APIRouter(prefix="/github")


def api_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/github"


def respond(
    request: Request, state: SimulatorState, payload: Any, link: str | None = None
) -> Response:
    """200 with a strong ETag, or 304 when it matches `If-None-Match` (a 304 costs no budget)."""
    body = dumps(payload)
    etag = f'"{hashlib.sha256(body).hexdigest()}"'
    common = {"etag": etag, "cache-control": "private, max-age=60, s-maxage=60", "vary": "Accept"}
    if link:
        common["link"] = link
    if etag in _if_none_match(request):
        return Response(status_code=304, headers={**common, **state.core.headers()})
    state.core.consume()
    headers = {**common, **state.core.headers(), "x-github-media-type": "github.v3; format=json"}
    return Response(body, 200, headers=headers, media_type=GITHUB_JSON)


def _if_none_match(request: Request) -> set[str]:
    raw = request.headers.get("if-none-match", "")
    # Clients may echo a weak validator; GitHub compares them weakly for GETs.
    return {tag.strip().removeprefix("W/") for tag in raw.split(",") if tag.strip()}


def _repo(state: SimulatorState, owner: str, name: str) -> Repo:
    repo = state.github.repo(owner, name)
    if repo is None:
        raise github_error(state, 404, "Not Found")
    return repo


def _parse_since(state: SimulatorState, since: str | None) -> int | None:
    if since is None:
        return None
    try:
        return int(datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise github_error(state, 422, "Validation Failed") from None


def _page_bounds(per_page: int, page: int) -> tuple[int, int]:
    return min(max(per_page, 1), 100), max(page, 1)


def _filtered(
    data: GitHubData, repo: Repo, key: tuple[Any, ...], since: int | None
) -> list[GhIssue]:
    state_filter, sort, direction, labels, milestone, assignee, creator = key
    wanted_labels = {lbl for lbl in labels.split(",") if lbl} if labels else set()
    out = []
    for item in repo.issues:
        if item.deleted or (state_filter != "all" and item.state != state_filter):
            continue
        if since is not None and item.updated < since:
            continue
        if wanted_labels and not wanted_labels <= set(item.label_names):
            continue
        if milestone is not None and not _milestone_matches(item, milestone):
            continue
        if assignee is not None and not _user_matches(item.assignee, assignee):
            continue
        if creator is not None and GITHUB_USERS[item.author] != creator:
            continue
        out.append(item)
    field = "updated" if sort == "updated" else "created"
    out.sort(key=lambda i: (getattr(i, field), i.number), reverse=direction == "desc")
    return out


def _milestone_matches(item: GhIssue, milestone: str) -> bool:
    if milestone == "*":
        return item.milestone is not None
    if milestone == "none":
        return item.milestone is None
    return str(item.milestone) == milestone


def _user_matches(index: int | None, login: str) -> bool:
    if login == "*":
        return index is not None
    if login == "none":
        return index is None
    return index is not None and GITHUB_USERS[index] == login


@router.get("/repos/{owner}/{repo}/issues")
async def list_issues(
    request: Request,
    state: StateDep,
    owner: str,
    repo: str,
    issue_state: Annotated[str, Query(alias="state")] = "open",
    sort: str = "created",
    direction: str | None = None,
    since: str | None = None,
    per_page: int = 30,
    page: int = 1,
    labels: str | None = None,
    milestone: str | None = None,
    assignee: str | None = None,
    creator: str | None = None,
) -> Response:
    target = _repo(state, owner, repo)
    if issue_state not in ("open", "closed", "all") or sort not in (
        "created",
        "updated",
        "comments",
    ):
        raise github_error(state, 422, "Validation Failed")
    direction = direction or "desc"
    if direction not in ("asc", "desc"):
        raise github_error(state, 422, "Validation Failed")
    since_ts = _parse_since(state, since)
    per_page, page = _page_bounds(per_page, page)
    key = (issue_state, sort, direction, labels, milestone, assignee, creator)
    cache_key = (target.index, key, since_ts, state.github.version)
    items = state.github_lists.get_or_build(
        cache_key, lambda: list(_filtered(state.github, target, key, since_ts))
    )
    last = max(math.ceil(len(items) / per_page), 1)
    base = api_base(request)
    chunk = items[(page - 1) * per_page : page * per_page]
    payload = [render.issue(base, state.github, i) for i in chunk]
    return respond(request, state, payload, link_header(request, page, last) if items else None)


@router.get("/repos/{owner}/{repo}/issues/{number}")
async def get_issue(
    request: Request, state: StateDep, owner: str, repo: str, number: int
) -> Response:
    item = _repo(state, owner, repo).issue(number)
    if item is None:
        raise github_error(state, 404, "Not Found")
    if item.deleted:
        raise github_error(state, 410, "This issue was deleted")
    return respond(request, state, render.issue(api_base(request), state.github, item))


@router.get("/repos/{owner}/{repo}/issues/{number}/sub_issues")
async def list_sub_issues(
    request: Request,
    state: StateDep,
    owner: str,
    repo: str,
    number: int,
    per_page: int = 30,
    page: int = 1,
) -> Response:
    target = _repo(state, owner, repo)
    parent = target.issue(number)
    if parent is None or parent.deleted:
        raise github_error(state, 404, "Not Found")
    children = [target.issues[n - 1] for n in target.children.get(number, ())]
    live = [c for c in children if not c.deleted]
    return _paged(
        request, state, live, per_page, page, lambda b, i: render.issue(b, state.github, i)
    )


@router.get("/repos/{owner}/{repo}")
async def get_repo(request: Request, state: StateDep, owner: str, repo: str) -> Response:
    target = _repo(state, owner, repo)
    return respond(request, state, render.repository(api_base(request), state.github, target))


@router.get("/repos/{owner}/{repo}/milestones")
async def list_milestones(
    request: Request,
    state: StateDep,
    owner: str,
    repo: str,
    milestone_state: Annotated[str, Query(alias="state")] = "open",
    per_page: int = 30,
    page: int = 1,
) -> Response:
    target = _repo(state, owner, repo)
    wanted = [m for m in target.milestones if milestone_state in ("all", m.state)]
    counts: dict[int, list[int]] = {}
    for item in target.issues:
        if item.milestone is not None and not item.deleted:
            slot = counts.setdefault(item.milestone, [0, 0])
            slot[item.state == "closed"] += 1

    def one(base: str, m: Any) -> dict[str, Any]:
        pair = counts.get(m.number, [0, 0])
        return render.milestone(base, state.github, target, m, (pair[0], pair[1]))

    return _paged(request, state, wanted, per_page, page, one)


@router.get("/orgs/{org}/repos")
async def list_org_repos(
    request: Request, state: StateDep, org: str, per_page: int = 30, page: int = 1
) -> Response:
    if org.lower() != state.github.org.lower():
        raise github_error(state, 404, "Not Found")
    return _paged(
        request,
        state,
        state.github.repos,
        per_page,
        page,
        lambda b, r: render.repository(b, state.github, r),
    )


@free_router.get("/rate_limit")
async def rate_limit(state: StateDep) -> Response:
    # Not counted against the primary budget, as on GitHub.
    def pool(budget: Budget) -> dict[str, int]:
        return {
            "limit": budget.limit,
            "used": budget.used,
            "remaining": budget.remaining,
            "reset": budget.reset_at,
        }

    core = pool(state.core)
    payload = {"resources": {"core": core, "graphql": pool(state.graphql)}, "rate": core}
    return Response(dumps(payload), headers=state.core.headers(), media_type=GITHUB_JSON)


def _paged(
    request: Request,
    state: SimulatorState,
    rows: list[Any],
    per_page: int,
    page: int,
    one: Any,
) -> Response:
    per_page, page = _page_bounds(per_page, page)
    last = max(math.ceil(len(rows) / per_page), 1)
    base = api_base(request)
    payload = [one(base, row) for row in rows[(page - 1) * per_page : page * per_page]]
    return respond(request, state, payload, link_header(request, page, last) if rows else None)
