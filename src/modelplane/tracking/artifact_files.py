"""Python objects written as artifact files: text, dicts (JSON or YAML), figures (matplotlib,
plotly) and tables, chosen by the artifact file's extension.

Each writer takes the object and a local target file, and raises InvalidInputError naming the
argument when the object or the extension does not fit. matplotlib, plotly (and kaleido for a
plotly PNG) are optional: they are never imported here, only the figure's own methods are used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelplane.errors import InvalidInputError

MATPLOTLIB_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
PLOTLY_FORMATS = (".html", ".png", ".svg", ".pdf", ".jpg", ".jpeg")
TABLE_FORMATS = (".json", ".parquet", ".csv")
YAML_SUFFIXES = (".yaml", ".yml")


def suffix(name: str) -> str:
    return Path(name).suffix.lower()


def write_text(text: object, target: Path) -> None:
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, got {type(text).__name__}", field="text")
    target.write_text(text, encoding="utf-8")


def write_dict(data: object, target: Path, name: str) -> None:
    """JSON (indented, keys kept in order), or YAML when ``name`` ends .yaml/.yml."""
    if not isinstance(data, Mapping | list):
        raise InvalidInputError(
            f"dictionary must be a dict (or a list), got {type(data).__name__}", field="dictionary"
        )
    plain = _plain(data)
    if suffix(name) in YAML_SUFFIXES:
        import yaml

        text = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)
    else:
        try:
            text = json.dumps(plain, indent=2, ensure_ascii=False, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"dictionary cannot be written as JSON: {exc}", field="dictionary"
            ) from None
    target.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples and paths made plain Python."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":
        return _plain(value.tolist())
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidInputError(
        f"dictionary holds a {type(value).__name__}, which is neither JSON nor YAML: convert "
        "it to a str, number, list or dict first",
        field="dictionary",
    )


def write_figure(figure: Any, target: Path, name: str) -> None:
    """A matplotlib Figure as PNG/SVG/PDF/JPEG, or a plotly figure as HTML (or as an image
    when kaleido is installed), by the extension of ``name``."""
    module = type(figure).__module__
    ext = suffix(name)
    if module.startswith("matplotlib") and hasattr(figure, "savefig"):
        if ext not in MATPLOTLIB_FORMATS:
            raise InvalidInputError(
                f"a matplotlib figure is saved as {', '.join(MATPLOTLIB_FORMATS)}; "
                f"{name!r} has another extension",
                field="artifact_file",
            )
        figure.savefig(target, format=ext.lstrip(".").replace("jpg", "jpeg"))
        return
    if module.startswith("plotly") and hasattr(figure, "write_html"):
        if ext == ".html":
            figure.write_html(str(target), include_plotlyjs="cdn")
            return
        if ext not in PLOTLY_FORMATS:
            raise InvalidInputError(
                f"a plotly figure is saved as {', '.join(PLOTLY_FORMATS)}; {name!r} has "
                "another extension",
                field="artifact_file",
            )
        try:
            import kaleido  # noqa: F401  (plotly's static image export)
        except ImportError:
            raise InvalidInputError(
                f"saving a plotly figure as {ext} needs kaleido (pip install kaleido); or log "
                "it as .html",
                field="artifact_file",
            ) from None
        figure.write_image(str(target), format=ext.lstrip(".").replace("jpg", "jpeg"))
        return
    raise InvalidInputError(
        f"figure must be a matplotlib Figure or a plotly figure, got {type(figure).__name__}",
        field="figure",
    )


def write_table(data: object, target: Path, name: str) -> None:
    """A DataFrame or a dict of columns as JSON (``{"columns": [...], "data": [[...], ...]}``,
    the shape MLflow's ``log_table`` writes), Parquet or CSV, by the extension of ``name``."""
    import pandas as pd

    if isinstance(data, Mapping):
        try:
            frame = pd.DataFrame({str(k): list(v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"data must be a DataFrame or a dict of equally long columns: {exc}", field="data"
            ) from None
    elif isinstance(data, pd.DataFrame):
        frame = data
    else:
        raise InvalidInputError(
            f"data must be a DataFrame or a dict of columns, got {type(data).__name__}",
            field="data",
        )
    ext = suffix(name)
    if ext == ".json":
        doc = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
        body = {"columns": doc["columns"], "data": doc["data"]}
        target.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    elif ext == ".parquet":
        frame.to_parquet(target, index=False)
    elif ext == ".csv":
        frame.to_csv(target, index=False)
    else:
        raise InvalidInputError(
            f"a table is saved as {', '.join(TABLE_FORMATS)}; {name!r} has another extension",
            field="artifact_file",
        )


__all__ = ["write_dict", "write_figure", "write_table", "write_text"]
