"""The portfolio tree as the page shows it: filtered by objective, health and owner.

Numbers are never recomputed here: every node is the API's node (`GET /api/v1/portfolio`);
filters only choose which nodes appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field

from schemas.api.common import Id, NoNul
from schemas.api.rollups import Health, InitiativeNode, KeyResultNode, ObjectiveNode, Rollup

HEALTH_LABELS = {
    "not_started": "Not started",
    "on_track": "On track",
    "at_risk": "At risk",
    "off_track": "Off track",
    "done": "Done",
}


# Epics make a large portfolio's page ~3x slower and heavier (2,000 epics under 1,000
# initiatives: ~0.5 s and 1.9 MB instead of ~0.2 s and 0.7 MB); above this many initiatives
# they are shown only when asked for (the initiative page always lists its epics).
EPICS_BY_DEFAULT_UP_TO = 300


class PortfolioFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    objective_id: Id | None = None
    health: Health | None = None
    owner: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    epics: Literal["shown", "hidden"] | None = None

    def epics_shown(self, initiatives: int) -> bool:
        if self.epics is None:
            return initiatives <= EPICS_BY_DEFAULT_UP_TO
        return self.epics == "shown"

    @property
    def active(self) -> bool:
        return self.health is not None or self.owner is not None


@dataclass(frozen=True)
class Counts:
    done: int
    total: int
    done_points: float
    total_points: float


def counts_of(node: Rollup) -> Counts:
    """Done and scope as the rollup counts them: cancelled items are in neither."""
    c, p = node.explanation.counts, node.explanation.points
    return Counts(
        done=c.get("done", 0),
        total=sum(c.values()) - c.get("cancelled", 0),
        done_points=p.get("done", 0.0),
        total_points=sum(p.values()) - p.get("cancelled", 0.0),
    )


@dataclass
class TreeFilter:
    filters: PortfolioFilters
    initiative_owner: dict[int, str | None]
    objective_owner: dict[int, str | None]

    def _health_ok(self, node: Rollup) -> bool:
        return self.filters.health is None or node.health == self.filters.health

    def initiative(self, node: InitiativeNode) -> bool:
        owner = self.filters.owner
        owned = owner is None or self.initiative_owner.get(node.node_id) == owner
        return owned and self._health_ok(node)

    def key_result(self, node: KeyResultNode) -> KeyResultNode | None:
        initiatives = [i for i in node.initiatives if self.initiative(i)]
        # A key result has no owner: with an owner filter it shows only for its initiatives.
        matches = self.filters.owner is None and self._health_ok(node)
        if not matches and not initiatives:
            return None
        return node.model_copy(update={"initiatives": initiatives})

    def objective(self, node: ObjectiveNode) -> ObjectiveNode | None:
        key_results = [k for k in (self.key_result(k) for k in node.key_results) if k is not None]
        children = [o for o in (self.objective(o) for o in node.objectives) if o is not None]
        owner = self.filters.owner
        matches = (owner is None or self.objective_owner.get(node.node_id) == owner) and (
            self._health_ok(node)
        )
        if not matches and not key_results and not children:
            return None
        return node.model_copy(update={"key_results": key_results, "objectives": children})


def filter_tree(
    objectives: list[ObjectiveNode],
    unaligned: list[InitiativeNode],
    tree_filter: TreeFilter,
) -> tuple[list[ObjectiveNode], list[InitiativeNode]]:
    if not tree_filter.filters.active:
        return objectives, unaligned
    kept = [o for o in (tree_filter.objective(o) for o in objectives) if o is not None]
    return kept, [i for i in unaligned if tree_filter.initiative(i)]


def owner_choices(
    initiative_owner: dict[int, str | None], objective_owner: dict[int, str | None]
) -> list[str]:
    return sorted({o for o in (*initiative_owner.values(), *objective_owner.values()) if o})


def data_attributes(node: Rollup) -> dict[str, Any]:
    """What the page states about a node, machine-readable (tests compare it with the API)."""
    counts = counts_of(node)
    return {
        "node-type": node.node_type,
        "node-id": node.node_id,
        "progress": "" if node.progress is None else repr(node.progress),
        "health": node.health or "",
        "done": counts.done,
        "total": counts.total,
        "done-points": f"{counts.done_points:g}",
        "total-points": f"{counts.total_points:g}",
    }


@dataclass
class NodeView:
    """One node as the page prints it, every string prepared (the page has ~3,000 nodes)."""

    kind: str
    css: str
    title: str
    href: str
    attrs: Markup
    percent: str
    width: str
    health: str
    health_label: str
    counts: Counts | None
    owner: str | None = None
    target: str | None = None
    children: list[NodeView] = field(default_factory=list)
    epics: list[NodeView] = field(default_factory=list)


_KINDS = {
    "objective": ("Objective", "/objectives/"),
    "key_result": ("Key result", "/key-results/"),
    "initiative": ("Initiative", "/initiatives/"),
    "epic": ("Epic", "/work-items/"),
}


def _attrs(node: Rollup) -> Markup:
    # Plain string building with C-level escaping: Markup.format costs ~30 µs per attribute.
    return Markup(
        "".join(f' data-{name}="{escape(value)}"' for name, value in data_attributes(node).items())
    )


def node_view(node: Rollup, *, owner: str | None = None, counted: bool = True) -> NodeView:
    kind, path = _KINDS[node.node_type]
    progress = node.progress
    return NodeView(
        kind=kind,
        css="node-" + node.node_type.replace("_", "-"),
        title=node.title,
        href=f"{path}{node.node_id}",
        attrs=_attrs(node),
        percent="n/a" if progress is None else f"{progress * 100:.1f}%",
        width=f"{(progress or 0.0) * 100:.1f}%",
        health=node.health or "none",
        health_label=HEALTH_LABELS.get(node.health or "", "No health"),
        counts=counts_of(node) if counted else None,
        owner=owner,
        target=node.target_date.isoformat() if node.target_date else None,
    )


@dataclass
class ViewBuilder:
    initiative_owner: dict[int, str | None]
    objective_owner: dict[int, str | None]

    def initiative(self, node: InitiativeNode) -> NodeView:
        view = node_view(node, owner=self.initiative_owner.get(node.node_id))
        view.epics = [node_view(epic) for epic in node.epics or []]
        return view

    def key_result(self, node: KeyResultNode) -> NodeView:
        view = node_view(node, counted=bool(node.explanation.counts))
        view.children = [self.initiative(i) for i in node.initiatives]
        return view

    def objective(self, node: ObjectiveNode) -> NodeView:
        view = node_view(node, owner=self.objective_owner.get(node.node_id), counted=False)
        view.children = [self.key_result(k) for k in node.key_results] + [
            self.objective(o) for o in node.objectives
        ]
        return view
