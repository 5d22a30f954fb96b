"""Vocabulary for generated titles, labels and people, and cheap random helpers."""

from collections.abc import Sequence
from random import Random
from typing import TypeVar

T = TypeVar("T")

VERBS = (
    "Fix",
    "Add",
    "Improve",
    "Refactor",
    "Remove",
    "Document",
    "Migrate",
    "Speed up",
    "Harden",
    "Support",
    "Investigate",
    "Polish",
)
NOUNS = (
    "login flow",
    "search results",
    "billing page",
    "webhook retries",
    "export job",
    "session cache",
    "notification centre",
    "onboarding wizard",
    "audit log",
    "rate limiter",
    "settings screen",
    "CSV import",
    "dark mode",
    "API pagination",
    "push notifications",
    "report builder",
    "permissions model",
    "deploy pipeline",
    "error tracking",
    "sync worker",
)
SUFFIXES = (
    "",
    " on mobile",
    " for admins",
    " in Safari",
    " after upgrade",
    " under load",
    " for large tenants",
    " in the EU region",
    " behind a flag",
    " for SSO users",
)
THEMES = (
    "Checkout revamp",
    "Self-serve onboarding",
    "Reliability Q3",
    "Enterprise SSO",
    "Reporting v2",
    "Mobile offline mode",
    "Data retention",
    "Performance budget",
    "Accessibility pass",
    "Partner API",
    "Usage-based billing",
    "Search relevance",
)

GITHUB_USERS = (
    "octocat",
    "mona",
    "hubot",
    "defunkt",
    "mojombo",
    "pjhyett",
    "wycats",
    "ezmobius",
    "ivey",
    "evanphx",
    "vanpelt",
    "wayneeseguin",
)
GITHUB_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("frontend", "fbca04", None),
    ("backend", "1d76db", None),
    ("tech-debt", "c5def5", None),
    ("priority:high", "b60205", None),
    ("good first issue", "7057ff", "Good for newcomers"),
)
POINT_VALUES = (1, 2, 3, 5, 8)

JIRA_USERS = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Margaret Hamilton",
    "Linus Torvalds",
    "Barbara Liskov",
    "Ken Thompson",
    "Frances Allen",
    "Edsger Dijkstra",
    "Radia Perlman",
)
JIRA_LABELS = (
    "customer",
    "regression",
    "security",
    "performance",
    "ux",
    "infra",
    "quick-win",
    "q3",
)
JIRA_COMPONENTS = ("Backend", "Frontend", "Payments", "Auth", "Infrastructure", "Analytics")
STORY_POINTS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0)


def small_subsets(size: int) -> tuple[tuple[int, ...], ...]:
    """Index sets of 0, 1 or 2 elements, weighted so each size is about equally likely.

    Drawing one of these is far cheaper than `random.sample`, which matters at 100k items.
    """
    singles = tuple((a,) for a in range(size))
    pairs = tuple((a, b) for a in range(size) for b in range(a + 1, size))
    empties = ((),) * max(len(pairs), 1)
    weight = max(len(pairs) // max(size, 1), 1)
    return empties + singles * weight + pairs


def below(rng: Random, n: int) -> int:
    """`rng.randrange(n)` at a third of the cost (fine for the small n used here)."""
    return int(rng.random() * n)


def pick(rng: Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]


# Initiative names the simulator's writable fields accept (GitHub project single-select options,
# Jira select options): a store that titles initiatives so can write them back.
INITIATIVE_TITLES = ("Checkout revamp", "Search quality", "Platform reliability", "Mobile launch")
