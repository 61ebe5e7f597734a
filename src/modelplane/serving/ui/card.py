"""A model card (markdown) as blocks of plain text for the page's templates.

The registry writes cards with user text made inert for markdown and HTML renderers (entities
for ``<>&``, backslashes before markdown syntax: :mod:`modelplane.registry.card`). The dashboard
does not trust that to be complete: it reads the card's few shapes (headings, tables, list
items, paragraphs, `code` spans), turns every piece back into the plain text it stands for, and
the template escapes that text like any other. Nothing of the card is ever marked safe, so
whatever a card holds shows as text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_ESCAPED = re.compile(r"\\(.)")
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


@dataclass(frozen=True)
class Span:
    text: str
    code: bool = False


@dataclass
class Block:
    kind: str  # heading | paragraph | list | table
    level: int = 0
    spans: list[Span] = field(default_factory=list)
    items: list[list[Span]] = field(default_factory=list)
    rows: list[list[list[Span]]] = field(default_factory=list)


def spans(text: str) -> list[Span]:
    """Inline text: `code` spans kept verbatim, elsewhere backslash escapes undone; entities
    decoded everywhere (the template escapes the result)."""
    out: list[Span] = []
    for i, part in enumerate(text.split("`")):
        if not part:
            continue
        code = i % 2 == 1
        plain = part if code else _ESCAPED.sub(r"\1", part)
        out.append(Span(html.unescape(plain), code))
    return out


def _cells(line: str) -> list[list[Span]]:
    inner = line.strip()
    inner = inner.removeprefix("|")
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [spans(cell.strip()) for cell in _CELL_SPLIT.split(inner)]


def card_blocks(markdown: str) -> list[Block]:
    """The blocks of a card, in order."""
    blocks: list[Block] = []
    current: Block | None = None
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if not line.strip():
            current = None
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            blocks.append(Block("heading", len(heading.group(1)), spans(heading.group(2))))
            current = None
        elif line.startswith("|"):
            if current is None or current.kind != "table":
                current = Block("table")
                blocks.append(current)
            if not _SEPARATOR.match(line.strip()):
                current.rows.append(_cells(line))
        elif line.startswith("- "):
            if current is None or current.kind != "list":
                current = Block("list")
                blocks.append(current)
            current.items.append(spans(line[2:]))
        elif current is not None and current.kind == "paragraph":
            current.spans += [Span(" "), *spans(line)]
        else:
            current = Block("paragraph", spans=spans(line))
            blocks.append(current)
    return blocks


__all__ = ["Block", "Span", "card_blocks", "spans"]
