"""The run search filter language, compiled to SQL conditions on indexed tables.

Grammar (MLflow-compatible subset)::

    filter  := clause ( AND clause )*
    clause  := ident op value
    ident   := ("metrics" | "params" | "tags" | "attributes") "." (name | `quoted name`)
               | attribute            (run_id, run_name, status, start_time, end_time, user, code_version)
    op      := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value   := number | 'string' | "string" | ( value, … )

Metrics compare numerically. Tags are strings (=, !=, LIKE, ILIKE, IN, NOT IN). Params compare
as strings against a quoted value (``params.C = '1.0'``, MLflow's way) and as numbers against an
unquoted one (``params.C > 0.5``, ``params.n IN (3, 4)``: params logged as numbers, or as strings
spelling one). Each clause becomes
``r.id IN (SELECT run_id FROM <table> WHERE key = ? AND <column> <op> ?)`` (plain SQL text with
bound parameters, valid on SQLite and PostgreSQL), served by the (key, value) and (key, num)
indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modelplane.errors import InvalidInputError

MAX_FILTER_LEN = 10_000

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
      | (?P<ident>[A-Za-z_][\w]*(?:\.(?:`[^`]+`|[\w.\-]+))?)
    )""",
    re.VERBOSE,
)

_ATTRIBUTES = (
    "run_id",
    "id",
    "run_name",
    "name",
    "status",
    "start_time",
    "end_time",
    "user",
    "code_version",
)
_PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attr",
    "attribute": "attr",
    "attr": "attr",
    "run": "attr",
}


@dataclass(frozen=True)
class Clause:
    kind: str  # metric | param (text) | param_num (numbers) | tag | attr
    key: str
    op: str
    value: Any


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidInputError(
                f"cannot parse filter at position {pos}: {text[pos : pos + 30]!r}", field="filter"
            )
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def parse_filter(text: str | None) -> list[Clause]:
    if text is None or not text.strip():
        return []
    if not isinstance(text, str):
        raise InvalidInputError("filter must be a string", field="filter")
    if len(text) > MAX_FILTER_LEN:
        raise InvalidInputError(
            f"filter is longer than {MAX_FILTER_LEN} characters", field="filter"
        )
    return _Parser(_tokens(text)).clauses()


class _Parser:
    """``clause (AND clause)*`` over the tokens; ``clause = field operator value``."""

    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks = toks
        self.i = 0

    def _peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def clauses(self) -> list[Clause]:
        clauses: list[Clause] = []
        while self.i < len(self.toks):
            clauses.append(self._clause())
            if self.i < len(self.toks):
                self._and()
        return clauses

    def _clause(self) -> Clause:
        kind, tok = self.toks[self.i]
        if kind != "ident":
            raise InvalidInputError(
                f"expected a field such as metrics.auc, got {tok!r}", field="filter"
            )
        clause_kind, key = _field(tok)
        self.i += 1
        if self.i >= len(self.toks):
            raise InvalidInputError(f"missing comparison after {tok!r}", field="filter")
        op = self._operator()
        value = self._list(op) if op in ("IN", "NOT IN") else self._value()
        return _check(Clause(clause_kind, key, op, value))

    def _operator(self) -> str:
        kind, op = self.toks[self.i]
        upper = op.upper()
        if kind == "op":
            self.i += 1
            return "!=" if op == "<>" else op
        if kind == "ident" and upper in ("LIKE", "ILIKE", "IN"):
            self.i += 1
            return upper
        following = self.toks[self.i + 1][1].upper() if self.i + 1 < len(self.toks) else ""
        if kind == "ident" and upper == "NOT" and following == "IN":
            self.i += 2
            return "NOT IN"
        raise InvalidInputError(f"expected a comparison operator, got {op!r}", field="filter")

    def _value(self) -> Any:
        if self.i >= len(self.toks):
            raise InvalidInputError("filter ends where a value was expected", field="filter")
        kind, tok = self.toks[self.i]
        self.i += 1
        if kind == "num":
            return float(tok)
        if kind == "str":
            return _unquote(tok)
        raise InvalidInputError(
            f"expected a number or a quoted string, got {tok!r}", field="filter"
        )

    def _list(self, op: str) -> list[Any]:
        if self._peek() != "(":
            raise InvalidInputError(f"{op} needs a parenthesised list", field="filter")
        self.i += 1
        items: list[Any] = []
        while True:
            items.append(self._value())
            if self._peek() == ",":
                self.i += 1
                continue
            if self._peek() == ")":
                self.i += 1
                return items
            raise InvalidInputError(f"unterminated {op} list", field="filter")

    def _and(self) -> None:
        tok = self.toks[self.i][1]
        if tok.upper() == "AND":
            self.i += 1
            if self.i >= len(self.toks):
                raise InvalidInputError("filter ends after AND", field="filter")
            return
        if tok.upper() == "OR":
            raise InvalidInputError("OR is not supported; combine clauses with AND", field="filter")
        raise InvalidInputError(f"expected AND, got {tok!r}", field="filter")


def _field(token: str) -> tuple[str, str]:
    if "." in token:
        prefix, key = token.split(".", 1)
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise InvalidInputError(
                f"unknown field {token!r}: use metrics.NAME, params.NAME, tags.NAME or an "
                f"attribute ({', '.join(sorted(_ATTRIBUTES))})",
                field="filter",
            )
        if key.startswith("`") and key.endswith("`"):
            key = key[1:-1]
        if kind == "attr" and key not in _ATTRIBUTES:
            raise InvalidInputError(f"unknown attribute {key!r}", field="filter")
        return kind, key
    if token in _ATTRIBUTES:
        return "attr", token
    raise InvalidInputError(
        f"unknown field {token!r}: use metrics.NAME, params.NAME, tags.NAME or an attribute",
        field="filter",
    )


def _check(clause: Clause) -> Clause:
    values = clause.value if isinstance(clause.value, list) else [clause.value]
    numeric = all(isinstance(v, float) for v in values)
    if clause.kind == "metric" and not numeric:
        raise InvalidInputError(f"metrics.{clause.key} compares with numbers", field="filter")
    if clause.kind == "metric" and clause.op in ("LIKE", "ILIKE"):
        raise InvalidInputError("LIKE applies to params, tags and text attributes", field="filter")
    if clause.kind == "param" and numeric:
        if clause.op in ("LIKE", "ILIKE"):
            raise InvalidInputError(
                f"{clause.op} matches text: quote the pattern (params.{clause.key} "
                f"{clause.op} '…')",
                field="filter",
            )
        return Clause("param_num", clause.key, clause.op, clause.value)
    if clause.kind == "param" and any(isinstance(v, float) for v in values):
        raise InvalidInputError(
            f"params.{clause.key} {clause.op} mixes numbers and quoted strings: quote every "
            "value to compare text, or none to compare numbers",
            field="filter",
        )
    if clause.kind in ("param", "tag") and clause.op in ("<", "<=", ">", ">="):
        if clause.kind == "param":
            raise InvalidInputError(
                f"params.{clause.key} {clause.op} '{clause.value}' compares text: to compare "
                f"numbers, leave the number unquoted (params.{clause.key} {clause.op} "
                f"{clause.value})",
                field="filter",
            )
        raise InvalidInputError(
            "tags are strings: use =, !=, LIKE, ILIKE or IN (compare numbers with metrics.* "
            "or params.*)",
            field="filter",
        )
    if clause.kind in ("param", "tag"):
        return Clause(clause.kind, clause.key, clause.op, _as_text(clause.value))
    return clause


def _as_text(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


_ATTR_SQL = {
    "run_id": "r.id",
    "id": "r.id",
    "run_name": "r.name",
    "name": "r.name",
    "status": "r.status",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
    "user": 'r."user"',
    "code_version": "r.code_version",
}
_CHILD_SQL = {
    "metric": "latest_metrics",
    "param": "run_params",
    "param_num": "run_params",
    "tag": "run_tags",
}


def _compare_sql(column: str, op: str, value: Any, mark: str) -> tuple[str, list[Any]]:
    if op in ("IN", "NOT IN"):
        return f"{column} {op} ({', '.join([mark] * len(value))})", list(value)
    if op == "ILIKE":
        return f"lower({column}) LIKE lower({mark})", [value]
    if op in ("=", "!=", "<", "<=", ">", ">=", "LIKE"):
        return f"{column} {op} {mark}", [value]
    raise InvalidInputError(f"unsupported operator {op!r}", field="filter")


def to_sql(clauses: list[Clause], mark: str) -> tuple[list[str], list[Any]]:
    """SQL conditions on the runs table aliased ``r`` and their parameters, in order.

    Only fixed SQL text is generated; every value — keys included — is a bound parameter.
    Each metric/param/tag clause is an ``r.id IN (SELECT run_id …)`` served by the child table's
    (key, value) index.
    """
    parts: list[str] = []
    params: list[Any] = []
    for c in clauses:
        if c.kind == "attr":
            value = c.value
            if c.key in ("start_time", "end_time"):
                if not isinstance(value, (float, list)):
                    raise InvalidInputError(
                        f"{c.key} compares with epoch milliseconds", field="filter"
                    )
                value = [int(v) for v in value] if isinstance(value, list) else int(value)
            elif isinstance(value, float) or (
                isinstance(value, list) and any(isinstance(v, float) for v in value)
            ):
                value = _as_text(value)
            sql, ps = _compare_sql(_ATTR_SQL[c.key], c.op, value, mark)
        else:
            column = "num" if c.kind == "param_num" else "value"
            cond, ps = _compare_sql(column, c.op, c.value, mark)
            sql = f"r.id IN (SELECT run_id FROM {_CHILD_SQL[c.kind]} WHERE key = {mark} AND {cond})"
            ps = [c.key, *ps]
        parts.append(sql)
        params.extend(ps)
    return parts, params
