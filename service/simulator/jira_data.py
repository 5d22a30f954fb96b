"""The seeded Jira Cloud dataset: projects, epics, stories/tasks/bugs, sub-tasks, sprints."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from service.simulator.config import SimulatorConfig
from service.simulator.words import (
    JIRA_COMPONENTS,
    JIRA_LABELS,
    JIRA_USERS,
    NOUNS,
    STORY_POINTS,
    SUFFIXES,
    THEMES,
    VERBS,
    below,
    pick,
    small_subsets,
)


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    hierarchy_level: int
    kind: str
    description: str

    @property
    def subtask(self) -> bool:
        return self.hierarchy_level < 0


ISSUE_TYPES = (
    IssueType("10000", "Epic", 1, "epic", "A big user story that needs to be broken down."),
    IssueType("10001", "Story", 0, "story", "Functionality or a feature expressed as a user goal."),
    IssueType("10002", "Task", 0, "task", "A small, distinct piece of work."),
    IssueType("10003", "Bug", 0, "bug", "A problem or error."),
    IssueType(
        "10004", "Subtask", -1, "subtask", "A small piece of work that's part of a larger task."
    ),
)
EPIC, STORY, TASK, BUG, SUBTASK = range(5)
LABEL_SETS = small_subsets(len(JIRA_LABELS))
COMPONENT_SETS = small_subsets(len(JIRA_COMPONENTS))[: 1 + len(JIRA_COMPONENTS) * 2]


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # Jira statusCategory key: new | indeterminate | done


STATUSES = (
    Status("10000", "To Do", "new"),
    Status("10001", "Backlog", "new"),
    Status("3", "In Progress", "indeterminate"),
    Status("10002", "In Review", "indeterminate"),
    Status("10003", "Done", "done"),
)
DONE_STATUS = 4
OPEN_STATUSES = (0, 1, 2, 3)
STATUS_CATEGORIES = {
    "new": (2, "blue-gray", "To Do"),
    "indeterminate": (4, "yellow", "In Progress"),
    "done": (3, "green", "Done"),
}
# (id, name, counts as cancelled for the portfolio)
RESOLUTIONS = (("10000", "Done", False), ("10001", "Won't Do", True), ("10002", "Duplicate", True))
PRIORITIES = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest"))


@dataclass(frozen=True)
class Sprint:
    id: int
    name: str
    state: str
    board_id: int
    start: int
    end: int


@dataclass(slots=True)
class JiraIssue:
    id: int
    project: int
    num: int
    type: int
    summary: str
    status: int
    resolution: int | None
    parent: int | None
    labels: tuple[int, ...]
    components: tuple[int, ...]
    fix_version: int | None
    sprints: tuple[int, ...]
    assignee: int | None
    reporter: int
    points: float | None
    priority: int
    created: int
    updated: int
    resolved: int | None
    status_changed: int
    deleted: bool = False
    # Labels added through `PUT /issue/{key}`, after the seeded ones.
    extra_labels: tuple[str, ...] = ()
    # Issue entity properties set through `PUT /issue/{key}/properties/{name}`.
    properties: dict[str, Any] | None = None
    # Writable custom fields set through `PUT /issue/{key}` (`jira_custom_fields`).
    custom: dict[str, str] | None = None

    @property
    def label_names(self) -> list[str]:
        return [JIRA_LABELS[i] for i in self.labels] + list(self.extra_labels)


@dataclass
class JiraProject:
    index: int
    key: str
    id: int
    name: str
    next_num: int = 1
    epics: list[int] = field(default_factory=list)
    standard: list[int] = field(default_factory=list)
    sprints: list[Sprint] = field(default_factory=list)


@dataclass
class JiraData:
    projects: list[JiraProject]
    issues: dict[int, JiraIssue]
    by_key: dict[str, int]
    old_keys: dict[str, int]
    children: dict[int, list[int]]
    next_id: int
    version: int = 0

    def key_of(self, issue: JiraIssue) -> str:
        return f"{self.projects[issue.project].key}-{issue.num}"

    def project(self, key_or_id: str) -> JiraProject | None:
        for project in self.projects:
            if key_or_id.upper() == project.key or key_or_id == str(project.id):
                return project
        return None

    def find(self, id_or_key: str) -> JiraIssue | None:
        if id_or_key.isdigit():
            return self.issues.get(int(id_or_key))
        key = id_or_key.upper()
        issue_id = self.by_key.get(key, self.old_keys.get(key))
        return None if issue_id is None else self.issues.get(issue_id)

    def live_children(self, issue_id: int) -> list[JiraIssue]:
        return [
            self.issues[c] for c in self.children.get(issue_id, ()) if not self.issues[c].deleted
        ]


def random_summary(rng: random.Random, issue_type: int) -> str:
    if issue_type == EPIC:
        return pick(rng, THEMES)
    return f"{pick(rng, VERBS)} {pick(rng, NOUNS)}{pick(rng, SUFFIXES)}"


def _sprints(project: int, start_ms: int, span_ms: int) -> list[Sprint]:
    out = []
    length = 14 * 86_400_000
    first = start_ms + span_ms - 5 * length
    for k in range(6):
        begin = first + k * length
        state = "closed" if k < 4 else ("active" if k == 4 else "future")
        out.append(
            Sprint(
                project * 10 + k + 1, f"Sprint {k + 1}", state, project + 1, begin, begin + length
            )
        )
    return out


def add_issue(
    data: JiraData,
    rng: random.Random,
    project: JiraProject,
    issue_type: int,
    created: int,
    updated: int,
    parent: int | None,
) -> JiraIssue:
    """Create a fresh issue; both the generator and the `create` mutation use this."""
    if issue_type == EPIC:
        status = pick(rng, (0, 2, 2, 4))
    else:
        status = DONE_STATUS if rng.random() < 0.45 else pick(rng, OPEN_STATUSES)
    resolution = None
    if status == DONE_STATUS:
        roll = rng.random()
        resolution = 0 if roll < 0.8 else (1 if roll < 0.9 else 2)
    sprints: tuple[int, ...] = ()
    if issue_type != EPIC and rng.random() < 0.6:
        slot = below(rng, len(project.sprints) - (1 if status == DONE_STATUS else 0))
        sprints = tuple(s.id for s in project.sprints[max(slot - 1, 0) : slot + 1])
    points = None
    if issue_type in (STORY, TASK, BUG) and rng.random() < 0.7:
        points = pick(rng, STORY_POINTS)
    issue = JiraIssue(
        id=data.next_id,
        project=project.index,
        num=project.next_num,
        type=issue_type,
        summary=random_summary(rng, issue_type),
        status=status,
        resolution=resolution,
        parent=parent,
        labels=LABEL_SETS[int(rng.random() * len(LABEL_SETS))],
        components=COMPONENT_SETS[int(rng.random() * len(COMPONENT_SETS))],
        fix_version=below(rng, 3) if rng.random() < 0.3 else None,
        sprints=sprints,
        assignee=below(rng, len(JIRA_USERS)) if rng.random() < 0.75 else None,
        reporter=below(rng, len(JIRA_USERS)),
        points=points,
        priority=below(rng, len(PRIORITIES)),
        created=created,
        updated=updated,
        resolved=updated if resolution is not None else None,
        status_changed=created + (updated - created) // 2,
    )
    data.next_id += 1
    project.next_num += 1
    data.issues[issue.id] = issue
    data.by_key[data.key_of(issue)] = issue.id
    if issue_type == EPIC:
        project.epics.append(issue.id)
    elif issue_type != SUBTASK:
        project.standard.append(issue.id)
    if parent is not None:
        data.children.setdefault(parent, []).append(issue.id)
    return issue


def pick_type_and_parent(
    data: JiraData, rng: random.Random, project: JiraProject, allow_epic: bool = True
) -> tuple[int, int | None]:
    roll = rng.random()
    if allow_epic and (roll < 0.04 or not project.epics):
        return EPIC, None
    if roll < 0.2 and project.standard:
        return SUBTASK, project.standard[below(rng, len(project.standard))]
    issue_type = STORY if roll < 0.6 else (TASK if roll < 0.8 else BUG)
    parent = project.epics[below(rng, len(project.epics))] if project.epics else None
    if parent is not None and rng.random() < 0.25:
        parent = None
    return issue_type, parent


def generate_jira(config: SimulatorConfig) -> JiraData:
    rng = random.Random(f"jira:{config.seed}")
    anchor = int(config.anchor.timestamp()) * 1000
    span = config.history_days * 86_400_000
    start = anchor - span
    projects = [
        JiraProject(index=k, key=key, id=10_000 + k, name=f"{key.title()} team")
        for k, key in enumerate(config.jira_projects)
    ]
    for project in projects:
        project.sprints = _sprints(project.index, start, span)
    data = JiraData(
        projects=projects, issues={}, by_key={}, old_keys={}, children={}, next_id=10_000
    )
    n = config.jira_issues
    step = max(span // max(n, 1), 1)
    for i in range(n):
        project = projects[below(rng, len(projects))]
        issue_type, parent = pick_type_and_parent(data, rng, project)
        created = start + i * span // max(n, 1) + below(rng, step)
        # Millisecond jitter keeps `updated` values distinct, as on a real site.
        updated = created + int((anchor - created) * rng.random() ** 2) + below(rng, 1000)
        add_issue(data, rng, project, issue_type, created, updated, parent)
    return data


def status_category(issue: JiraIssue) -> str:
    category = STATUSES[issue.status].category
    if category == "new":
        return "todo"
    if category == "indeterminate":
        return "in_progress"
    if issue.resolution is not None and RESOLUTIONS[issue.resolution][2]:
        return "cancelled"
    return "done"
