"""``modelplane demo``: the whole lifecycle on scikit-learn's bundled breast-cancer data.

dataset → tracked run (a C sweep logged as a metric series, test metrics) → registered model
with lineage → ``@champion`` alias → load it back by alias and compare predictions → search runs
→ verify the audit chain → a summary of what was created and where it lives.

Everything goes through the public SDK (``import modelplane as mp``) on a workspace configured
from the CLI's global options, so on a fresh machine it runs on the embedded defaults (SQLite and
a local folder under ``./.modelplane``). Running it again adds a model version and moves
``@champion``; the dataset stays at its version because its content is the same.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from modelplane.cli import state
from modelplane.cli.output import (
    cell,
    console,
    fmt_aliases,
    fmt_number,
    hide_password,
    key_values,
    new_table,
    note,
    show,
)
from modelplane.errors import AuditChainError, IntegrityError

if TYPE_CHECKING:
    from modelplane.context import Workspace

MODEL_NAME = "breast-cancer"
DATASET_NAME = "breast-cancer-train"
EXPERIMENT = "demo"
ALIAS = "champion"
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
RANDOM_STATE = 0
TEST_SIZE = 0.25
CV_FOLDS = 3
STEPS = 12


@contextmanager
def _steps() -> Iterator[Any]:
    """A progress bar over the demo's steps (plain lines when stdout is not a terminal)."""
    out = console()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        disable=not out.is_terminal,
    )
    with progress:
        task = progress.add_task("starting", total=STEPS)

        def done(message: str) -> None:
            progress.console.print(Text.assemble(("✓ ", "green"), message), highlight=False)
            progress.advance(task)

        def begin(description: str) -> None:
            progress.update(task, description=description)

        yield progress, begin, done


def _pipeline(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=c, max_iter=1000))])


def demo() -> None:
    """Run the lifecycle demo: dataset → run → model → @champion → serve → swap → score → audit."""
    started = time.monotonic()
    opts = state()
    import modelplane as mp

    opts.settings()  # a --home whose parent folder does not exist is refused here
    ws = mp.configure(home=opts.home, db_url=opts.db_url, artifacts=opts.artifacts)
    try:
        _run(mp, ws, started)
    finally:
        ws.close()


def _run(mp: Any, ws: Workspace, started: float) -> None:
    with _steps() as (progress, begin, done):
        begin("loading data")
        import numpy as np
        from sklearn.datasets import load_breast_cancer
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        from sklearn.model_selection import cross_val_score, train_test_split

        bunch = load_breast_cancer(as_frame=True)
        X, y = bunch.data, bunch.target
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=y
        )
        done(f"loaded breast-cancer data: {len(X_train)} train / {len(X_test)} test rows")

        begin("registering dataset")
        ds = mp.register_dataset(
            DATASET_NAME,
            X_train.assign(target=y_train),
            source="sklearn.datasets.load_breast_cancer (train split, random_state=0)",
        )
        done(f"dataset {ds.uri} ({ds.num_rows} rows, sha256 {ds.content_hash[:12]}…)")

        begin("training")
        with mp.start_run(EXPERIMENT, tags={"purpose": "modelplane demo"}) as run:
            run.log_params(
                {
                    "model": "LogisticRegression",
                    "scaler": "StandardScaler",
                    "max_iter": 1000,
                    "test_size": TEST_SIZE,
                    "random_state": RANDOM_STATE,
                    "dataset": ds.uri,
                    "c_grid": ",".join(str(c) for c in C_GRID),
                }
            )
            sweep = progress.add_task(f"C sweep ({CV_FOLDS}-fold CV AUC)", total=len(C_GRID))
            cv_auc: list[float] = []
            for c in C_GRID:
                scores = cross_val_score(
                    _pipeline(c), X_train, y_train, cv=CV_FOLDS, scoring="roc_auc"
                )
                cv_auc.append(float(scores.mean()))
                progress.advance(sweep)
            progress.remove_task(sweep)
            run.log_series("cv_auc", cv_auc)  # step i is C_GRID[i]
            best_c = C_GRID[int(np.argmax(cv_auc))]
            run.log_param("C", best_c)
            model = _pipeline(best_c).fit(X_train, y_train)
            done(f"run {run.id}: C sweep {_series(cv_auc)} → C={best_c}")

            begin("evaluating")
            predicted = model.predict(X_test)
            proba = model.predict_proba(X_test)[:, 1]
            metrics = {
                "accuracy": float(accuracy_score(y_test, predicted)),
                "auc": float(roc_auc_score(y_test, proba)),
                "f1": float(f1_score(y_test, predicted)),
            }
            run.log_metrics(metrics)
            done("test " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

            begin("registering model")
            mv = mp.register_model(
                MODEL_NAME,
                model,
                X_train.head(5),
                run=run,
                datasets=[ds],
                metrics=metrics,
                description="Logistic regression on the Wisconsin breast-cancer data "
                "(modelplane demo).",
            )
            done(f"registered {mv.uri} (flavor {mv.flavor})")

        begin("moving @champion")
        previous = mp.get_model(MODEL_NAME).aliases.get(ALIAS)
        mp.set_alias(MODEL_NAME, ALIAS, mv.version, reason="demo: newest model")
        moved = f"v{previous} → v{mv.version}" if previous else f"→ v{mv.version}"
        done(f"@{ALIAS} {moved}")

        begin("loading by alias")
        uri = f"models:/{MODEL_NAME}@{ALIAS}"
        loaded = mp.load_model(uri)
        same = bool(np.array_equal(loaded.predict(X_test), predicted)) and bool(
            np.allclose(loaded.predict_proba(X_test)[:, 1], proba)
        )
        if not same:
            raise IntegrityError(f"{uri} predicts differently from the model that was registered")
        done(f"loaded {uri}: predictions on {len(X_test)} test rows match the trained model")

        from modelplane.cli.demo_serving import run_serving

        challenger_c = C_GRID[(C_GRID.index(best_c) + 1) % len(C_GRID)]
        challenger = _pipeline(challenger_c).fit(X_train, y_train)
        serving = run_serving(mp, ws, X_test, predicted, challenger, begin, done)

        begin("searching runs and verifying the audit chain")
        found = mp.search_runs(
            EXPERIMENT, "metrics.auc > 0.9", order_by=["metrics.auc DESC"], max_results=5
        )
        verdict = ws.audit.verify()
        done(f"audit chain {'intact' if verdict.ok else 'BROKEN'} ({verdict.checked} entries)")

    outcome = _Outcome(
        ds=ds,
        run_id=run.id,
        cv_auc=cv_auc,
        best_c=best_c,
        metrics=metrics,
        mv=mp.get_model_version(MODEL_NAME, mv.version),
        moved=moved,
        uri=uri,
        found=found,
        verdict=verdict,
        serving=serving,
    )
    _summary(ws, outcome, started)
    if not verdict.ok:
        raise AuditChainError(
            f"audit chain broken at entry {verdict.first_bad_seq}: {verdict.reason}"
        )


def _series(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


@dataclass(frozen=True)
class _Outcome:
    """What the demo did, for the closing summary."""

    ds: Any
    run_id: str
    cv_auc: list[float]
    best_c: float
    metrics: dict[str, float]
    mv: Any
    moved: str
    uri: str
    found: Any
    verdict: Any
    serving: Any


def _summary(ws: Workspace, outcome: _Outcome, started: float) -> None:
    verdict = outcome.verdict
    sections = [*_lifecycle(outcome), _search(outcome.found), _state(ws, verdict)]
    parts: list[Any] = []
    for section in sections:
        parts += [section, ""]
    elapsed = time.monotonic() - started
    show(
        Panel(
            Group(*parts[:-1]),
            title=f"modelplane demo — done in {elapsed:.1f}s",
            title_align="left",
            border_style="green" if verdict.ok else "red",
            expand=False,
        )
    )
    for line in next_steps(ws.settings.home, outcome.uri):
        note(line)


def next_steps(home: Path, uri: str) -> list[str]:
    """The closing lines: how to reach the ``modelplane`` command and this demo's home from any
    directory, then commands to try (plain text, so they can be copied)."""
    home_line = f"export MODELPLANE_HOME={shlex.quote(str(home))}"
    lines = ["", "Next steps (from any directory):"]
    command = Path(sys.prefix) / "bin" / "modelplane"
    if sys.prefix != sys.base_prefix and command.is_file():
        # installed in a virtual environment: its bin folder is not on PATH until activated
        activate = Path(sys.prefix) / "bin" / "activate"
        lines.append(
            f"  source {shlex.quote(str(activate))}    # puts modelplane on PATH "
            f"(or run {shlex.quote(str(command))} …)"
        )
    lines += [
        f"  {home_line}    # the home this demo used; "
        "without it, modelplane uses ./.modelplane of the current directory",
        f"  modelplane models show {MODEL_NAME}",
        f"  modelplane models show '{uri}' --card",
        f"  modelplane runs list --experiment {EXPERIMENT}",
        "  modelplane audit verify",
        f"  modelplane serve '{uri}'    # then: curl -s localhost:8000/v1/endpoints/"
        f"{MODEL_NAME}/predict -H 'Content-Type: application/json' -d '{{\"inputs\": […]}}'",
    ]
    return lines


def _lifecycle(o: _Outcome) -> list[Any]:
    """The dataset, run, model and serving sections."""
    serving, ds, mv = o.serving, o.ds, o.mv
    served = key_values(
        "Serving",
        [
            (
                "endpoint",
                f"breast-cancer → models:/breast-cancer@champion ({serving.url}, stopped)",
            ),
            ("runtime", serving.runtime),
            (
                "predictions",
                f"native JSON + v2 match the model ({serving.native_ms:.1f} ms for 20 rows)",
            ),
            (
                "hot swap",
                f"{serving.first_model} → {serving.swapped_to} in {serving.swap_seconds:.1f}s; "
                f"{serving.requests_during_swap} requests, {serving.failed_during_swap} failed",
            ),
            ("batch scoring", f"{serving.scored_rows} rows → {serving.scored_file}"),
        ],
    )
    dataset = key_values(
        "Dataset",
        [
            ("uri", ds.uri),
            ("sha256", ds.content_hash),
            ("shape", f"{ds.num_rows} rows, {ds.num_columns} columns"),
        ],
    )
    run = key_values(
        "Run",
        [
            ("id", o.run_id),
            ("experiment", EXPERIMENT),
            ("C sweep", f"cv_auc {_series(o.cv_auc)} over C={list(C_GRID)} → C={o.best_c}"),
            ("test metrics", ", ".join(f"{k}={v:.4f}" for k, v in o.metrics.items())),
        ],
    )
    model = key_values(
        "Model",
        [
            ("uri", mv.uri),
            ("flavor", mv.flavor),
            ("aliases", f"{fmt_aliases(mv.aliases)}  (@{ALIAS} {o.moved})"),
            ("lineage", ", ".join(f"datasets:/{d['name']}/{d['version']}" for d in mv.datasets)),
            ("reloaded", f"{o.uri}: predictions identical"),
        ],
    )
    return [dataset, run, model, served]


def _search(found: Any) -> Any:
    search = new_table(
        "search_runs('demo', 'metrics.auc > 0.9', order_by=['metrics.auc DESC'])",
        "run id",
        "C",
        "auc",
        "accuracy",
        "f1",
        no_wrap=("run id",),
    )
    for row in found.to_dict("records"):
        search.add_row(
            cell(row.get("run_id")),
            cell(row.get("params.C")),
            cell(fmt_number(row.get("metrics.auc"))),
            cell(fmt_number(row.get("metrics.accuracy"))),
            cell(fmt_number(row.get("metrics.f1"))),
        )
    return search


def _state(ws: Workspace, verdict: Any) -> Any:
    settings = ws.settings
    status = (
        f"intact ({verdict.checked} entries verified)"
        if verdict.ok
        else f"BROKEN at entry {verdict.first_bad_seq}: {verdict.reason}"
    )
    return key_values(
        "State",
        [
            ("audit chain", status),
            ("home", str(settings.home)),
            ("database", hide_password(settings.db_url)),
            ("artifacts", settings.artifacts),
        ],
    )
