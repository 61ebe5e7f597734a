"""The run search filter language, compiled to SQL conditions on indexed tables.

Grammar (MLflow-compatible subset)::

    filter  := clause ( AND clause )*
    clause  := ident op value
    ident   := ("metrics" | "params" | "tags" | "attributes") "." (name | `quoted name`)
               | attribute            (run_id, run_name, status, start_time, end_time, user, code_version)
    op      := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value   := number | 'string' | "string" | ( value, … )

Metrics compare numerically; params and tags are strings (=, !=, LIKE, ILIKE, IN, NOT IN).
Each clause becomes ``r.id IN (SELECT run_id FROM <table> WHERE key = ? AND value <op> ?)``
(plain SQL text with bound parameters, valid on SQLite and PostgreSQL), served by the
(key, value) indexes.
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
    kind: str  # metric | param | tag | attr
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
    toks = _tokens(text)
    clauses: list[Clause] = []
    i = 0

    def expect_value(j: int) -> tuple[Any, int]:
        if j >= len(toks):
            raise InvalidInputError("filter ends where a value was expected", field="filter")
        kind, tok = toks[j]
        if kind == "num":
            return float(tok), j + 1
        if kind == "str":
            return _unquote(tok), j + 1
        raise InvalidInputError(
            f"expected a number or a quoted string, got {tok!r}", field="filter"
        )

    while i < len(toks):
        kind, tok = toks[i]
        if kind != "ident":
            raise InvalidInputError(
                f"expected a field such as metrics.auc, got {tok!r}", field="filter"
            )
        clause_kind, key = _field(tok)
        i += 1
        if i >= len(toks):
            raise InvalidInputError(f"missing comparison after {tok!r}", field="filter")
        kind, op = toks[i]
        upper = op.upper()
        if kind == "op":
            op = "!=" if op == "<>" else op
            i += 1
        elif kind == "ident" and upper in ("LIKE", "ILIKE", "IN"):
            op = upper
            i += 1
        elif (
            kind == "ident"
            and upper == "NOT"
            and i + 1 < len(toks)
            and toks[i + 1][1].upper() == "IN"
        ):
            op = "NOT IN"
            i += 2
        else:
            raise InvalidInputError(f"expected a comparison operator, got {op!r}", field="filter")
        value: Any
        if op in ("IN", "NOT IN"):
            if i >= len(toks) or toks[i][1] != "(":
                raise InvalidInputError(f"{op} needs a parenthesised list", field="filter")
            i += 1
            items: list[Any] = []
            while True:
                item, i = expect_value(i)
                items.append(item)
                if i < len(toks) and toks[i][1] == ",":
                    i += 1
                    continue
                if i < len(toks) and toks[i][1] == ")":
                    i += 1
                    break
                raise InvalidInputError(f"unterminated {op} list", field="filter")
            value = items
        else:
            value, i = expect_value(i)
        clauses.append(_check(Clause(clause_kind, key, op, value)))
        if i < len(toks):
            kind, tok = toks[i]
            if tok.upper() == "AND":
                i += 1
                if i >= len(toks):
                    raise InvalidInputError("filter ends after AND", field="filter")
                continue
            if tok.upper() == "OR":
                raise InvalidInputError(
                    "OR is not supported; combine clauses with AND", field="filter"
                )
            raise InvalidInputError(f"expected AND, got {tok!r}", field="filter")
    return clauses


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
    if clause.kind in ("param", "tag"):
        if clause.op in ("<", "<=", ">", ">="):
            raise InvalidInputError(
                f"{clause.kind}s are strings: use =, !=, LIKE, ILIKE or IN (compare numbers "
                "with metrics.*)",
                field="filter",
            )
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
_CHILD_SQL = {"metric": "latest_metrics", "param": "run_params", "tag": "run_tags"}


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
            cond, ps = _compare_sql("value", c.op, c.value, mark)
            sql = f"r.id IN (SELECT run_id FROM {_CHILD_SQL[c.kind]} WHERE key = {mark} AND {cond})"
            ps = [c.key, *ps]
        parts.append(sql)
        params.extend(ps)
    return parts, params
