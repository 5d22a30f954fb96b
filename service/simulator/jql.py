"""The subset of JQL a connector emits, compiled into a predicate and a sort key.

Supported: clauses `project`, `key`/`issuekey`, `id`, `issuetype`/`type`, `status`,
`statusCategory`, `parent`, `labels` with `=`, `!=`, `in`, `not in`; `updated`/`created`
(`updatedDate`/`createdDate`) with `=`, `!=`, `>`, `>=`, `<`, `<=` against
`"yyyy-MM-dd HH:mm"`, `"yyyy/MM/dd HH:mm"`, `"yyyy-MM-dd"`, `"yyyy/MM/dd"` (read in the user's
time zone, as Jira does), epoch milliseconds, or relative periods like `-15m`, `-2d`, `-1w 2d`
(from the simulated clock); `AND`, `OR`, `NOT` and parentheses; `ORDER BY` on `updated`,
`created`, `key`, `id`, `priority` with `ASC`/`DESC`.

A query must be bounded by a project, key or id restriction (every `OR` branch must be), else
it is rejected like Jira rejects unbounded queries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from service.simulator.jira_data import ISSUE_TYPES, STATUSES, JiraData, JiraIssue
from service.simulator.words import JIRA_LABELS

Predicate = Callable[[JiraIssue], bool]
SortKey = Callable[[JiraIssue], tuple[int, ...]]

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|>=|<=|!~|[=<>~(),])'
    r"|(?P<word>[^\s\"'=!<>~(),]+))"
)
_RELATIVE = re.compile(r"^\s*([-+]?)((?:\d+\s*[wdhm]\s*)+)$")
_PERIOD = re.compile(r"(\d+)\s*([wdhm])")
_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_KEYWORDS = {"and", "or", "not", "in", "order", "by", "asc", "desc", "is", "empty", "null"}
FIELD_ALIASES = {
    "issuekey": "key",
    "type": "issuetype",
    "updateddate": "updated",
    "createddate": "created",
    "statuscategory": "statuscategory",
}
CLAUSE_FIELDS = {
    "project",
    "key",
    "id",
    "parent",
    "issuetype",
    "status",
    "statuscategory",
    "labels",
    "updated",
    "created",
}
SORTABLE = {"updated", "created", "key", "id", "priority"}
UNBOUNDED_MESSAGE = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)


class JQLError(ValueError):
    """Rendered as Jira's 400 `errorMessages`."""


@dataclass
class Token:
    kind: str
    text: str
    pos: int

    @property
    def value(self) -> str:
        if self.kind == "str":
            return re.sub(r"\\(.)", r"\1", self.text[1:-1])
        return self.text

    def is_kw(self, word: str) -> bool:
        return self.kind == "word" and self.text.lower() == word


@dataclass
class Compiled:
    predicate: Predicate
    sort_key: SortKey
    order: tuple[tuple[str, bool], ...]


def tokenize(jql: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        match = _TOKEN.match(jql, pos)
        if match is None or match.end() == pos:
            raise JQLError(
                f"Error in the JQL Query: The character '{jql[pos:].lstrip()[:1]}' is a reserved "
                f"JQL character. (line 1, character {pos + 1})"
            )
        kind = match.lastgroup or "word"
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class Parser:
    def __init__(self, jql: str, data: JiraData, tz: ZoneInfo, now_ms: int) -> None:
        self.tokens = tokenize(jql)
        self.i = 0
        self.data = data
        self.tz = tz
        self.now_ms = now_ms

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise JQLError(
                "Error in the JQL Query: Expecting either a value or a field but got end."
            )
        self.i += 1
        return tok

    def expect_op(self, op: str) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.text != op:
            self.fail(f"Expecting '{op}'", tok)

    def fail(self, what: str, tok: Token | None) -> None:
        got = "end" if tok is None else f"'{tok.text}'"
        where = "" if tok is None else f" (line 1, character {tok.pos + 1})"
        raise JQLError(f"Error in the JQL Query: {what} but got {got}.{where}")

    def parse(self) -> tuple[Predicate | None, bool, tuple[tuple[str, bool], ...]]:
        predicate, bounded = None, False
        tok = self.peek()
        if tok is not None and not tok.is_kw("order"):
            predicate, bounded = self.or_expr()
        order: list[tuple[str, bool]] = []
        tok = self.peek()
        if tok is not None:
            if not tok.is_kw("order"):
                self.fail("Expecting either 'OR' or 'AND'", tok)
            self.take()
            if not self.take().is_kw("by"):
                self.fail("Expecting 'BY'", self.tokens[self.i - 1])
            order.append(self.sort_item())
            while (tok := self.peek()) is not None and tok.kind == "op" and tok.text == ",":
                self.take()
                order.append(self.sort_item())
            if self.peek() is not None:
                self.fail("Expecting ',' or end", self.peek())
        return predicate, bounded, tuple(order)

    def sort_item(self) -> tuple[str, bool]:
        tok = self.take()
        name = FIELD_ALIASES.get(tok.value.lower(), tok.value.lower())
        if tok.kind == "op" or name not in SORTABLE:
            raise JQLError(f"Not able to sort using field '{tok.value}'.")
        descending = False
        nxt = self.peek()
        if nxt is not None and (nxt.is_kw("asc") or nxt.is_kw("desc")):
            descending = self.take().is_kw("desc")
        return name, descending

    def or_expr(self) -> tuple[Predicate, bool]:
        pred, bounded = self.and_expr()
        while (tok := self.peek()) is not None and tok.is_kw("or"):
            self.take()
            right, right_bounded = self.and_expr()
            pred = _or(pred, right)
            bounded = bounded and right_bounded
        return pred, bounded

    def and_expr(self) -> tuple[Predicate, bool]:
        pred, bounded = self.unary()
        while (tok := self.peek()) is not None and tok.is_kw("and"):
            self.take()
            right, right_bounded = self.unary()
            pred = _and(pred, right)
            bounded = bounded or right_bounded
        return pred, bounded

    def unary(self) -> tuple[Predicate, bool]:
        tok = self.take()
        if tok.is_kw("not"):
            inner, _ = self.unary()
            return (lambda i: not inner(i)), False
        if tok.kind == "op" and tok.text == "(":
            inner_pred, bounded = self.or_expr()
            self.expect_op(")")
            return inner_pred, bounded
        if tok.kind == "op" or tok.text.lower() in _KEYWORDS:
            self.fail("Expecting a field name", tok)
        return self.clause(tok)

    def clause(self, field_tok: Token) -> tuple[Predicate, bool]:
        field = FIELD_ALIASES.get(field_tok.value.lower(), field_tok.value.lower())
        op_tok = self.take()
        negate = False
        if op_tok.is_kw("not"):
            if not self.take().is_kw("in"):
                self.fail("Expecting 'IN'", self.tokens[self.i - 1])
            op, negate = "in", True
        elif op_tok.is_kw("in"):
            op = "in"
        elif op_tok.kind == "op" and op_tok.text in ("=", "!=", ">", ">=", "<", "<="):
            op = op_tok.text
        else:
            self.fail("Expecting operator", op_tok)
        values = self.values() if op == "in" else [self.value()]
        if op == "!=":
            op, negate = "=", True
        pred, bounded = self.field_predicate(field_tok.value, field, op, values)
        if negate:
            inner = pred
            return (lambda i: not inner(i)), False
        return pred, bounded

    def values(self) -> list[str]:
        self.expect_op("(")
        out = [self.value()]
        while (tok := self.take()).kind == "op" and tok.text == ",":
            out.append(self.value())
        if tok.kind != "op" or tok.text != ")":
            self.fail("Expecting ')'", tok)
        return out

    def value(self) -> str:
        tok = self.take()
        if tok.kind == "op" or (tok.kind == "word" and tok.text.lower() in _KEYWORDS):
            self.fail("Expecting either a value, list or function", tok)
        return tok.value

    def field_predicate(
        self, raw: str, field: str, op: str, values: list[str]
    ) -> tuple[Predicate, bool]:
        if field not in CLAUSE_FIELDS:
            raise JQLError(
                f"Field '{raw}' does not exist or you do not have permission to view it."
            )
        if field in ("updated", "created"):
            return self.date_predicate(field, op, values[0]), False
        if op != "=" and op != "in":
            raise JQLError(f"The operator '{op}' is not supported by the '{raw}' field.")
        data = self.data
        if field == "project":
            wanted = set()
            for v in values:
                project = data.project(v)
                if project is None:
                    raise JQLError(f"The value '{v}' does not exist for the field 'project'.")
                wanted.add(project.index)
            return (lambda i: i.project in wanted), True
        if field in ("key", "id", "parent"):
            ids = set()
            for v in values:
                found = data.find(v)
                if found is None:
                    raise JQLError(f"An issue with key '{v}' does not exist for field '{field}'.")
                ids.add(found.id)
            if field == "parent":
                return (lambda i: i.parent in ids), False
            return (lambda i: i.id in ids), True
        if field == "issuetype":
            names = {v.lower() for v in values}
            types = {k for k, t in enumerate(ISSUE_TYPES) if t.name.lower() in names}
            return (lambda i: i.type in types), False
        if field == "status":
            names = {v.lower() for v in values}
            statuses = {k for k, s in enumerate(STATUSES) if s.name.lower() in names}
            return (lambda i: i.status in statuses), False
        if field == "statuscategory":
            names = {v.lower() for v in values}
            aliases = {"to do": "new", "in progress": "indeterminate", "done": "done"}
            keys = {aliases.get(n, n) for n in names}
            return (lambda i: STATUSES[i.status].category in keys), False
        if field == "labels":
            wanted_labels = {JIRA_LABELS.index(v) for v in values if v in JIRA_LABELS}
            return (lambda i: bool(wanted_labels.intersection(i.labels))), False
        raise AssertionError(field)

    def date_predicate(self, field: str, op: str, text: str) -> Predicate:
        ms = parse_jql_date(text, field, self.tz, self.now_ms)
        compare: dict[str, Callable[[int], bool]] = {
            "=": lambda v: v == ms,
            ">": lambda v: v > ms,
            ">=": lambda v: v >= ms,
            "<": lambda v: v < ms,
            "<=": lambda v: v <= ms,
        }
        check = compare[op]
        if field == "updated":
            return lambda i: check(i.updated)
        return lambda i: check(i.created)


def parse_jql_date(text: str, field: str, tz: ZoneInfo, now_ms: int) -> int:
    value = text.strip()
    if value.isdigit():
        return int(value)
    relative = _RELATIVE.match(value)
    if relative:
        sign = -1 if relative.group(1) == "-" else 1
        total = sum(int(n) * _UNIT_MS[u] for n, u in _PERIOD.findall(relative.group(2)))
        return now_ms + sign * total
    for fmt in _DATE_FORMATS:
        try:
            naive = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return int(naive.replace(tzinfo=tz).timestamp() * 1000)
    raise JQLError(
        f"Date value '{text}' for field '{field}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


def _and(a: Predicate, b: Predicate) -> Predicate:
    return lambda i: a(i) and b(i)


def _or(a: Predicate, b: Predicate) -> Predicate:
    return lambda i: a(i) or b(i)


def compile_jql(jql: str, data: JiraData, tz: ZoneInfo, now_ms: int) -> Compiled:
    predicate, bounded, order = Parser(jql, data, tz, now_ms).parse()
    if predicate is None or not bounded:
        raise JQLError(UNBOUNDED_MESSAGE)
    if not order:
        order = (("created", True),)
    project_rank = {
        p.index: rank for rank, p in enumerate(sorted(data.projects, key=lambda p: p.key))
    }

    def part(name: str, issue: JiraIssue) -> tuple[int, ...]:
        if name == "updated":
            return (issue.updated,)
        if name == "created":
            return (issue.created,)
        if name == "key":
            return (project_rank[issue.project], issue.num)
        if name == "priority":
            return (issue.priority,)
        return (issue.id,)

    def sort_key(issue: JiraIssue) -> tuple[int, ...]:
        # Integers only (descending = negated), so a page token can carry the last key and the
        # next page starts right after it even if the data changed in between.
        out: list[int] = []
        for name, descending in order:
            out.extend(-v if descending else v for v in part(name, issue))
        out.append(issue.id)
        return tuple(out)

    return Compiled(predicate, sort_key, order)
