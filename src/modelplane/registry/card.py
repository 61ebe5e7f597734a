"""Generated model cards (markdown): what the model is, its inputs, metrics, lineage.

Every piece of user text (description, names, tags, params, metric names, classes) is escaped:
HTML special characters become entities and markdown link/image/code syntax is backslashed, so a
card rendered to HTML anywhere (the web UI, a report) shows the text and never runs or links it
(stored XSS through a model description, CVE-2024-27132 in a peer).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]()!|"})


def _text(value: Any) -> str:
    """User text, inert in markdown and in the HTML it renders to."""
    return html.escape(str(value).translate(_MARKDOWN), quote=False)


def _cell(value: Any) -> str:
    return _text(str(value).replace("\n", " ")[:200])


def render_card(
    facts: Mapping[str, Any],
    *,
    name: str,
    version: int,
    run: dict[str, Any] | None,
    datasets: list[dict[str, Any]],
    created_at: int,
    created_by: str | None,
) -> str:
    """The card of a version; ``facts`` holds its flavor, flavor_info, signature, metrics,
    params, tags and description (the columns of its row)."""
    flavor: str = facts["flavor"]
    flavor_info: Mapping[str, Any] = facts["flavor_info"]
    signature: Mapping[str, Any] = facts["signature"]
    metrics: Mapping[str, Any] = facts["metrics"]
    params: Mapping[str, Any] = facts["params"]
    tags: Mapping[str, Any] = facts["tags"]
    description: str = facts["description"]
    created = datetime.fromtimestamp(created_at / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Model card: {name} v{version}", ""]
    if description:
        lines += [_text(description), ""]
    lines += [
        "## Overview",
        "",
        "| | |",
        "|---|---|",
        f"| URI | `models:/{name}/{version}` |",
        f"| flavor | {_cell(flavor)} |",
        f"| class | {_cell(flavor_info.get('model_class', '?'))} |",
        f"| library version | {_cell(flavor_info.get('library_version', '?'))} |",
        f"| task | {_cell(signature.get('output_kind', 'unknown'))} |",
        f"| registered | {created} by {_cell(created_by or '?')} |",
        "",
    ]
    classes = signature.get("classes")
    if classes:
        lines += [f"Classes: {', '.join(_cell(c) for c in classes)}", ""]
    inputs = signature.get("inputs") or []
    lines += ["## Inputs", ""]
    if inputs:
        lines += ["| column | dtype |", "|---|---|"]
        lines += [f"| {_cell(c['name'])} | {_cell(c['dtype'])} |" for c in inputs]
    else:
        lines.append("No input example was given; the signature is unknown.")
    lines.append("")
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in sorted(metrics.items())]
        lines.append("")
    if params:
        lines += ["## Parameters", "", "| param | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in sorted(params.items())]
        lines.append("")
    lines += ["## Lineage", ""]
    if run:
        lines.append(
            f"- Run `{run['id']}` ({_cell(run['name'])}) in experiment {_cell(run['experiment'])}"
            + (f", code version `{run['code_version']}`" if run.get("code_version") else "")
        )
    for ds in datasets:
        lines.append(
            f"- Dataset `datasets:/{ds['name']}/{ds['version']}` ({ds['num_rows']} rows, "
            f"sha256 {ds['content_hash'][:12]}…)"
        )
    if not run and not datasets:
        lines.append("No run or dataset was recorded.")
    lines.append("")
    if tags:
        lines += ["## Tags", ""]
        lines += [f"- {_cell(k)}: {_cell(v)}" for k, v in sorted(tags.items())]
        lines.append("")
    return "\n".join(lines)
