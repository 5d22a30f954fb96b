"""Changes applied through `POST /_sim/mutate`, each stamped with its own simulated-clock tick.

Only issues change on the GitHub side (PRs cannot be deleted there, and their edits arrive as
`pull_request` events, which the simulator does not emit). Deletes and moves pick leaves (no live
children), so every parent a child points at keeps existing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from service.simulator.github_data import (
    MILESTONES_PER_REPO,
    POINTS_LABEL_BASE,
    STATUS_DONE,
    STATUS_TODO,
    GhIssue,
    add_project_item,
    random_title,
)
from service.simulator.jira_data import (
    DONE_STATUS,
    EPIC,
    OPEN_STATUSES,
    RESOLUTIONS,
    STATUSES,
    SUBTASK,
    JiraIssue,
    add_issue,
    pick_type_and_parent,
    random_summary,
)
from service.simulator.state import SimulatorState
from service.simulator.truth import github_key
from service.simulator.words import GITHUB_USERS, JIRA_LABELS, STORY_POINTS, below, pick

Selector = int | list[str]


class GitHubOps(BaseModel):
    update: Selector = 0
    create: int = Field(0, ge=0)
    delete: Selector = 0


class JiraOps(BaseModel):
    update: Selector = 0
    create: int = Field(0, ge=0)
    delete: Selector = 0
    move: Selector = 0


class MutateIn(BaseModel):
    """A count picks issues at random (seeded); a list names them (`acme/web#3`, `PLAT-7`)."""

    github: GitHubOps = Field(default_factory=GitHubOps)
    jira: JiraOps = Field(default_factory=JiraOps)


@dataclass
class Change:
    upstream: str
    action: str
    key: str
    external_id: str
    event: str
    issue: Any
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = {"key": self.key, "external_id": self.external_id, "event": self.event}
        if self.action == "move":
            out["from"] = self.details["from_key"]
        return out


class MutationError(ValueError):
    pass


def _choose(
    rng: random.Random, candidates: list[Any], selector: Selector, lookup: Any
) -> list[Any]:
    if isinstance(selector, list):
        eligible = {id(c) for c in candidates}
        chosen = []
        for key in selector:
            found = lookup(key)
            if found is None or id(found) not in eligible:
                raise MutationError(f"{key} cannot take this mutation")
            chosen.append(found)
        return chosen
    return rng.sample(candidates, min(selector, len(candidates)))


def _github_lookup(state: SimulatorState, key: str) -> GhIssue | None:
    repo_part, _, number = key.partition("#")
    owner, _, name = repo_part.partition("/")
    repo = state.github.repo(owner, name)
    return repo.issue(int(number)) if repo is not None and number.isdigit() else None


@dataclass
class Plan:
    """Targets chosen up front, so a bad name rejects the whole request before any change."""

    github_update: list[GhIssue] = field(default_factory=list)
    github_delete: list[GhIssue] = field(default_factory=list)
    jira_update: list[JiraIssue] = field(default_factory=list)
    jira_delete: list[JiraIssue] = field(default_factory=list)
    jira_move: list[JiraIssue] = field(default_factory=list)


def plan(state: SimulatorState, body: MutateIn) -> Plan:
    rng, gh, jira = state.mutation_rng, state.github, state.jira
    issues = [i for r in gh.repos for i in r.issues if not i.deleted and not i.is_pr]
    leaves = [
        i
        for i in issues
        if not any(
            not gh.repos[i.repo].issues[c - 1].deleted
            for c in gh.repos[i.repo].children.get(i.number, ())
        )
    ]
    out = Plan()

    def github(key: str) -> GhIssue | None:
        return _github_lookup(state, key)

    out.github_update = _choose(rng, issues, body.github.update, github)
    out.github_delete = _choose(rng, leaves, body.github.delete, github)
    live = [i for i in jira.issues.values() if not i.deleted]
    jira_leaves = [i for i in live if not jira.live_children(i.id)]
    out.jira_update = _choose(rng, live, body.jira.update, jira.find)
    out.jira_delete = _choose(rng, jira_leaves, body.jira.delete, jira.find)
    gone = {i.id for i in out.jira_delete}
    movable = [
        i
        for i in jira_leaves
        if i.id not in gone and i.type not in (EPIC, SUBTASK) and len(jira.projects) > 1
    ]
    out.jira_move = _choose(rng, movable, body.jira.move, jira.find)
    return out


def apply(state: SimulatorState, body: MutateIn) -> tuple[list[Change], list[Change]]:
    """Apply a mutation request; returns the GitHub and the Jira changes, in tick order."""
    chosen = plan(state, body)
    return _apply_github(state, chosen, body.github.create), _apply_jira(
        state, chosen, body.jira.create
    )


def _apply_github(state: SimulatorState, chosen: Plan, create: int) -> list[Change]:
    data = state.github
    changes = [_github_update(state, issue) for issue in chosen.github_update]
    changes += [_github_create(state) for _ in range(create)]
    for issue in chosen.github_delete:
        issue.deleted = True
        issue.updated = state.clock.tick() // 1000
        if issue.epic:
            data.repos[issue.repo].epics.remove(issue.number)
        changes.append(_gh_change(state, issue, "delete", "deleted"))
    if changes:
        data.version += 1
    return changes


def _gh_change(
    state: SimulatorState, issue: GhIssue, action: str, event: str, **details: Any
) -> Change:
    key = github_key(state.github, issue)
    return Change("github", action, key, issue.node_id, event, issue, details)


def _github_update(state: SimulatorState, issue: GhIssue) -> Change:
    rng = state.mutation_rng
    now = state.clock.tick() // 1000
    issue.updated = now
    roll = rng.random()
    if issue.state == "open" and roll < 0.35:
        issue.state, issue.closed = "closed", now
        issue.state_reason = "completed" if rng.random() < 0.75 else "not_planned"
        if issue.item is not None:
            issue.item.status = STATUS_DONE
        return _gh_change(state, issue, "update", "closed")
    if issue.state == "closed" and roll < 0.4:
        issue.state, issue.closed, issue.state_reason = "open", None, "reopened"
        if issue.item is not None:
            issue.item.status = STATUS_TODO
        return _gh_change(state, issue, "update", "reopened")
    if roll < 0.75:
        old = issue.title
        issue.title = f"{random_title(rng, issue.epic)} (rev {now % 1000})"
        return _gh_change(state, issue, "update", "edited", changes={"title": {"from": old}})
    free = [k for k in range(POINTS_LABEL_BASE) if k not in issue.labels]
    if not free:
        issue.title = f"{issue.title}."
        return _gh_change(
            state, issue, "update", "edited", changes={"title": {"from": issue.title[:-1]}}
        )
    added = pick(rng, free)
    issue.labels = tuple(sorted((*issue.labels, added)))
    return _gh_change(state, issue, "update", "labeled", label=added)


def _github_create(state: SimulatorState) -> Change:
    data, rng = state.github, state.mutation_rng
    repo = pick(rng, data.repos)
    now = state.clock.tick() // 1000
    epic = rng.random() < 0.1
    parent = pick(rng, repo.epics) if repo.epics and not epic and rng.random() < 0.5 else None
    issue = GhIssue(
        repo=repo.index,
        number=len(repo.issues) + 1,
        id=data.next_issue_id,
        is_pr=False,
        title=random_title(rng, epic),
        state="open",
        state_reason=None,
        merged_at=None,
        epic=epic,
        parent=parent,
        labels=(),
        milestone=below(rng, MILESTONES_PER_REPO) + 1 if rng.random() < 0.3 else None,
        assignee=below(rng, len(GITHUB_USERS)) if rng.random() < 0.5 else None,
        author=below(rng, len(GITHUB_USERS)),
        created=now,
        updated=now,
        closed=None,
    )
    data.next_issue_id += 1
    repo.add(issue)
    if rng.random() < 0.35:
        add_project_item(data, issue, rng)
    return _gh_change(state, issue, "create", "opened")


def _apply_jira(state: SimulatorState, chosen: Plan, create: int) -> list[Change]:
    data, rng = state.jira, state.mutation_rng
    changes = [_jira_update(state, issue) for issue in chosen.jira_update]
    for _ in range(create):
        project = pick(rng, data.projects)
        issue_type, parent = pick_type_and_parent(data, rng, project)
        now = state.clock.tick()
        issue = add_issue(data, rng, project, issue_type, now, now, parent)
        issue.status, issue.resolution, issue.resolved = 0, None, None
        changes.append(_jira_change(state, issue, "create", "jira:issue_created"))
    for issue in chosen.jira_delete:
        issue.deleted = True
        issue.updated = state.clock.tick()
        project = data.projects[issue.project]
        for pool in (project.epics, project.standard):
            if issue.id in pool:
                pool.remove(issue.id)
        changes.append(_jira_change(state, issue, "delete", "jira:issue_deleted"))
    changes += [_jira_move(state, issue) for issue in chosen.jira_move]
    if changes:
        data.version += 1
    return changes


def _jira_change(
    state: SimulatorState, issue: JiraIssue, action: str, event: str, **details: Any
) -> Change:
    return Change("jira", action, state.jira.key_of(issue), str(issue.id), event, issue, details)


def _jira_update(state: SimulatorState, issue: JiraIssue) -> Change:
    rng = state.mutation_rng
    now = state.clock.tick()
    issue.updated = now
    roll = rng.random()
    items: list[dict[str, Any]] = []
    if roll < 0.45:
        old = issue.status
        if STATUSES[old].category == "done":
            issue.status, issue.resolution, issue.resolved = pick(rng, OPEN_STATUSES), None, None
        else:
            later = [s for s in range(len(STATUSES)) if s > old]
            issue.status = pick(rng, later)
            if issue.status == DONE_STATUS:
                issue.resolution = 0 if rng.random() < 0.6 else pick(rng, (1, 2))
                issue.resolved = now
        issue.status_changed = now
        items.append(
            _item(
                "status",
                "Status",
                STATUSES[old].id,
                STATUSES[old].name,
                STATUSES[issue.status].id,
                STATUSES[issue.status].name,
            )
        )
        if issue.resolution is not None:
            _, name, _ = RESOLUTIONS[issue.resolution]
            items.append(
                _item(
                    "resolution", "resolution", None, None, RESOLUTIONS[issue.resolution][0], name
                )
            )
        event = "issue_generic"
    elif roll < 0.75:
        old_summary = issue.summary
        issue.summary = f"{random_summary(rng, issue.type)} (rev {now // 1000 % 1000})"
        items.append(_item("summary", "summary", None, old_summary, None, issue.summary))
        event = "issue_updated"
    elif roll < 0.9 and issue.type != EPIC:
        old_points = issue.points
        issue.points = pick(rng, STORY_POINTS)
        items.append(
            _item(
                "customfield_10016",
                "Story point estimate",
                None,
                _s(old_points),
                None,
                _s(issue.points),
            )
        )
        event = "issue_updated"
    else:
        old_labels = " ".join(JIRA_LABELS[i] for i in issue.labels)
        issue.labels = tuple(sorted({*issue.labels, below(rng, len(JIRA_LABELS))}))
        items.append(
            _item(
                "labels",
                "labels",
                None,
                old_labels,
                None,
                " ".join(JIRA_LABELS[i] for i in issue.labels),
            )
        )
        event = "issue_updated"
    return _jira_change(state, issue, "update", "jira:issue_updated", type_name=event, items=items)


def _jira_move(state: SimulatorState, issue: JiraIssue) -> Change:
    data, rng = state.jira, state.mutation_rng
    old_key = data.key_of(issue)
    source = data.projects[issue.project]
    target = pick(rng, [p for p in data.projects if p.index != issue.project])
    del data.by_key[old_key]
    data.old_keys[old_key] = issue.id
    source.standard.remove(issue.id)
    issue.project, issue.num = target.index, target.next_num
    target.next_num += 1
    target.standard.append(issue.id)
    issue.updated = state.clock.tick()
    new_key = data.key_of(issue)
    data.by_key[new_key] = issue.id
    items = [
        _item("Key", "issuekey", None, old_key, None, new_key),
        _item("project", "project", str(source.id), source.name, str(target.id), target.name),
    ]
    return _jira_change(
        state,
        issue,
        "move",
        "jira:issue_updated",
        type_name="issue_moved",
        items=items,
        from_key=old_key,
    )


def _item(
    field_name: str,
    field_id: str,
    frm: str | None,
    frm_s: str | None,
    to: str | None,
    to_s: str | None,
) -> dict[str, Any]:
    return {
        "field": field_name,
        "fieldtype": "custom" if field_id.startswith("customfield") else "jira",
        "fieldId": field_id,
        "from": frm,
        "fromString": frm_s,
        "to": to,
        "toString": to_s,
    }


def _s(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"
