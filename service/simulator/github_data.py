"""The seeded GitHub dataset: repositories, issues and PRs, milestones and one Projects v2 board.

Items are compact slotted objects; JSON is rendered per page (see `github_render`), so 100,000
issues cost a few tens of megabytes and about a second to build.
"""

from __future__ import annotations

import base64
import random
import struct
from dataclasses import dataclass, field

from service.simulator.config import SimulatorConfig
from service.simulator.words import (
    GITHUB_LABELS,
    GITHUB_USERS,
    NOUNS,
    POINT_VALUES,
    SUFFIXES,
    THEMES,
    VERBS,
    below,
    pick,
    small_subsets,
)

LABEL_NAMES: tuple[str, ...] = tuple(name for name, _, _ in GITHUB_LABELS) + tuple(
    f"points:{p}" for p in POINT_VALUES
)
POINTS_LABEL_BASE = len(GITHUB_LABELS)
STATUS_OPTIONS = (("Todo", "f75ad846"), ("In Progress", "47fc9ee4"), ("Done", "98236657"))
STATUS_TODO, STATUS_IN_PROGRESS, STATUS_DONE = 0, 1, 2
ITERATIONS = (
    ("Iteration 1", "cfc16e4d", "2025-04-07"),
    ("Iteration 2", "5ffa8a3b", "2025-04-21"),
    ("Iteration 3", "9a1d2c77", "2025-05-05"),
    ("Iteration 4", "e2b4f013", "2025-05-19"),
)
MILESTONES_PER_REPO = 6
LABEL_SETS = small_subsets(POINTS_LABEL_BASE)


def b64id(*parts: int) -> str:
    return base64.urlsafe_b64encode(struct.pack(f">{len(parts)}Q", *parts)).decode().rstrip("=")


@dataclass(slots=True)
class ProjectItem:
    seq: int
    issue: GhIssue
    status: int | None
    estimate: float | None
    iteration: int | None
    target_date: str | None
    # Fields written through the GraphQL mutations: field id → option id (select) or text.
    written: dict[str, str] = field(default_factory=dict)

    @property
    def node_id(self) -> str:
        return "PVTI_lADO" + b64id(self.seq)


@dataclass(slots=True)
class GhIssue:
    repo: int
    number: int
    id: int
    is_pr: bool
    title: str
    state: str
    state_reason: str | None
    merged_at: int | None
    epic: bool
    parent: int | None
    labels: tuple[int, ...]
    milestone: int | None
    assignee: int | None
    author: int
    created: int
    updated: int
    closed: int | None
    deleted: bool = False
    item: ProjectItem | None = None
    # Labels added through the REST API (write-back, people), after the seeded ones.
    extra_labels: tuple[str, ...] = ()

    @property
    def label_names(self) -> list[str]:
        return [LABEL_NAMES[i] for i in self.labels] + list(self.extra_labels)

    @property
    def node_id(self) -> str:
        # GitHub hands PRs a PullRequest node id even in the issues listing; the same id is
        # the `content.id` of the PR's Projects v2 item, which is how the two are joined.
        return ("PR_kwDO" if self.is_pr else "I_kwDO") + b64id(self.repo + 1, self.id)


@dataclass(slots=True)
class Milestone:
    number: int
    id: int
    title: str
    state: str
    created: int
    due_on: int


@dataclass
class Repo:
    index: int
    name: str
    id: int
    issues: list[GhIssue] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    epics: list[int] = field(default_factory=list)
    children: dict[int, list[int]] = field(default_factory=dict)
    # Labels created through the REST API: name → colour.
    custom_labels: dict[str, str] = field(default_factory=dict)

    @property
    def node_id(self) -> str:
        return "R_kgDO" + b64id(self.id)

    def issue(self, number: int) -> GhIssue | None:
        if 1 <= number <= len(self.issues):
            return self.issues[number - 1]
        return None

    def add(self, issue: GhIssue) -> None:
        """Append a new issue and index it as an epic and under its parent."""
        self.issues.append(issue)
        if issue.epic:
            self.epics.append(issue.number)
        if issue.parent is not None:
            self.children.setdefault(issue.parent, []).append(issue.number)


@dataclass
class GitHubData:
    org: str
    org_id: int
    repos: list[Repo]
    project_items: list[ProjectItem]
    next_issue_id: int
    next_item_seq: int
    version: int = 0

    def repo(self, owner: str, name: str) -> Repo | None:
        if owner.lower() != self.org.lower():
            return None
        for repo in self.repos:
            if repo.name.lower() == name.lower():
                return repo
        return None

    def live_issues(self) -> list[GhIssue]:
        return [i for r in self.repos for i in r.issues if not i.deleted]


def random_title(rng: random.Random, epic: bool) -> str:
    if epic:
        return f"Epic: {pick(rng, THEMES)}"
    return f"{pick(rng, VERBS)} {pick(rng, NOUNS)}{pick(rng, SUFFIXES)}"


def _milestones(repo_index: int, start: int, span: int) -> list[Milestone]:
    out = []
    for k in range(MILESTONES_PER_REPO):
        created = start + span * k // MILESTONES_PER_REPO
        out.append(
            Milestone(
                number=k + 1,
                id=9_000_000 + repo_index * 100 + k,
                title=f"v1.{k}",
                state="closed" if k < MILESTONES_PER_REPO // 2 else "open",
                created=created,
                due_on=created + span // MILESTONES_PER_REPO,
            )
        )
    return out


def generate_github(config: SimulatorConfig) -> GitHubData:
    rng = random.Random(f"github:{config.seed}")
    anchor = int(config.anchor.timestamp())
    span = config.history_days * 86400
    start = anchor - span
    repos = [
        Repo(index=k, name=name, id=700_000_000 + k) for k, name in enumerate(config.github_repos)
    ]
    for repo in repos:
        repo.milestones = _milestones(repo.index, start, span)
    data = GitHubData(
        org=config.github_org,
        org_id=31_898_100,
        repos=repos,
        project_items=[],
        next_issue_id=2_100_000_000,
        next_item_seq=1,
    )
    n = config.github_issues
    step = max(span // max(n, 1), 1)
    nrepos = len(repos)
    nusers = len(GITHUB_USERS)
    rand = rng.random
    for i in range(n):
        repo = repos[below(rng, nrepos)]
        created = start + i * span // max(n, 1) + below(rng, step)
        updated = created + int((anchor - created) * rand() ** 2)
        is_pr = rand() < 0.15
        epic = not is_pr and rand() < 0.04
        parent = None
        if not is_pr and not epic and repo.epics and rand() < 0.55:
            parent = repo.epics[below(rng, len(repo.epics))]
        state, reason, merged_at, closed = "open", None, None, None
        roll = rand()
        if is_pr:
            if roll >= 0.2:
                state, closed = "closed", created + (updated - created) * 9 // 10
                merged_at = closed if roll >= 0.35 else None
        elif roll >= (0.6 if epic else 0.45):
            state, closed = "closed", created + (updated - created) * 9 // 10
            reason = "completed" if roll < 0.85 or epic else pick(rng, ("not_planned", "duplicate"))
        labels = LABEL_SETS[int(rand() * len(LABEL_SETS))]
        issue = GhIssue(
            repo=repo.index,
            number=len(repo.issues) + 1,
            id=data.next_issue_id,
            is_pr=is_pr,
            title=random_title(rng, epic),
            state=state,
            state_reason=reason,
            merged_at=merged_at,
            epic=epic,
            parent=parent,
            labels=labels,
            milestone=below(rng, MILESTONES_PER_REPO) + 1 if rand() < 0.4 else None,
            assignee=below(rng, nusers) if rand() < 0.7 else None,
            author=below(rng, nusers),
            created=created,
            updated=updated,
            closed=closed,
        )
        data.next_issue_id += 1
        repo.add(issue)
        if rand() < 0.35:
            add_project_item(data, issue, rng)
        unestimated = issue.item is None or issue.item.estimate is None
        if not epic and not is_pr and unestimated and rand() < 0.25:
            points = below(rng, len(POINT_VALUES))
            issue.labels = (*issue.labels, POINTS_LABEL_BASE + points)
    return data


def add_project_item(data: GitHubData, issue: GhIssue, rng: random.Random) -> ProjectItem:
    if issue.state == "closed":
        status: int | None = STATUS_DONE
    else:
        status = STATUS_IN_PROGRESS if rng.random() < 0.5 else STATUS_TODO
    if rng.random() < 0.1:
        status = None
    estimate = None
    if (
        not issue.is_pr
        and not issue.epic
        and not any(lbl >= POINTS_LABEL_BASE for lbl in issue.labels)
    ):
        estimate = float(pick(rng, POINT_VALUES)) if rng.random() < 0.6 else None
    item = ProjectItem(
        seq=data.next_item_seq,
        issue=issue,
        status=status,
        estimate=estimate,
        iteration=below(rng, len(ITERATIONS)) if rng.random() < 0.5 else None,
        target_date=f"2025-0{6 + below(rng, 4)}-15" if issue.epic else None,
    )
    data.next_item_seq += 1
    data.project_items.append(item)
    issue.item = item
    return item


def points_of(issue: GhIssue) -> float | None:
    for lbl in issue.labels:
        if lbl >= POINTS_LABEL_BASE:
            return float(POINT_VALUES[lbl - POINTS_LABEL_BASE])
    return None
