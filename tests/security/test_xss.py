"""Stored XSS: hostile text in a model's description, tags, params, metric names and run name
is inert wherever it is rendered (the model card, as markdown and as the HTML it renders to)."""

from __future__ import annotations

import re

import pandas as pd
from markdown_it import MarkdownIt
from sklearn.linear_model import LogisticRegression

import modelplane as mp
from modelplane.context import Workspace

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<a href='javascript:alert(1)'>a</a>",
    "`</code><script>alert(2)</script>`",
    "<svg/onload=alert(1)>",
]


def test_hostile_text_in_a_model_card_renders_inert(sqlite_ws: Workspace) -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    text = " ".join(HOSTILE)
    with mp.start_run(experiment="xss", name="r") as run:
        mv = mp.register_model(
            "m",
            LogisticRegression().fit(X, [0, 0, 1, 1]),
            X,
            run=run,
            description=text,
            tags={"owner": text, "k": "<b>bold</b>"},
            params={"p": text},
        )
    card = mp.get_model_version("m", mv.version).model_card
    # the commonmark preset passes raw HTML through: the strictest renderer to survive
    rendered = MarkdownIt("commonmark").render(card).lower()
    elements = set(re.findall(r"<([a-z0-9]+)", rendered))
    assert elements <= {
        "h1",
        "h2",
        "p",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "ul",
        "li",
        "code",
    }, elements
    # and the text is still there to read
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
