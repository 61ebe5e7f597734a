"""``modelplane deploy`` and ``modelplane endpoints …``: named deployments of models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli import workspace
from modelplane.cli.output import JsonFlag, cell, fmt_time, new_table, note, print_json, show
from modelplane.errors import InvalidInputError

app = typer.Typer(
    name="endpoints",
    help="Named deployments: which model (or inference graph) each endpoint serves.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

MAX_CONFIG_BYTES = 1024 * 1024


def _serves(config: Any) -> str:
    """What an endpoint serves, in one line: its model or graph, or its variants by name."""
    described = []
    for variant in config.policy.variants:
        graph = variant.graph
        what = (
            f"graph({graph.ensemble}): " + ", ".join(m.uri for m in graph.models)
            if graph is not None
            else str(variant.model)
        )
        described.append(what if config.traffic is None else f"{variant.name}={what}")
    if config.traffic is None:
        return described[0]
    return f"{config.policy.policy}: " + "; ".join(described)


def _load_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file", field="config")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InvalidInputError(f"{path} is larger than 1 MiB", field="config")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text)
        else:
            doc = json.loads(text)
    except (ValueError, ImportError) as exc:
        raise InvalidInputError(f"{path}: cannot parse: {exc}", field="config") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{path}: the config must be an object", field="config")
    return doc


def deploy(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    model_uri: Annotated[
        str | None,
        typer.Argument(help="models:/NAME@ALIAS (follows alias moves) or models:/NAME/VERSION."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Endpoint config file (JSON or YAML): graphs, limits…"),
    ] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Rows per model call.")] = None,
    max_wait_ms: Annotated[
        float | None, typer.Option(help="Extra wait for batch companions.")
    ] = None,
    timeout_ms: Annotated[float | None, typer.Option(help="Per-model time limit.")] = None,
    max_queue_rows: Annotated[int | None, typer.Option(help="Queue bound (503 beyond).")] = None,
    fallback_model: Annotated[
        str | None, typer.Option(help="models:/ URI answering when the primary fails.")
    ] = None,
    no_accelerate: Annotated[
        bool, typer.Option("--no-accelerate", help="Never use ONNX Runtime for this endpoint.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Create or update an endpoint; running servers pick the change up within seconds."""
    doc: dict[str, Any] = _load_config(config) if config is not None else {}
    if model_uri is not None:
        if "graph" in doc or "traffic" in doc:
            raise InvalidInputError(
                "give a MODEL_URI or a config with a graph or traffic, not both",
                field="model_uri",
            )
        doc["model"] = model_uri
    if not any(key in doc for key in ("model", "graph", "traffic")):
        raise InvalidInputError(
            "give a MODEL_URI (models:/NAME@ALIAS) or --config", field="model_uri"
        )
    for section, key, value in (
        ("batching", "max_batch_size", max_batch_size),
        ("batching", "max_wait_ms", max_wait_ms),
        ("limits", "timeout_ms", timeout_ms),
        ("limits", "max_queue_rows", max_queue_rows),
        ("fallback", "model", fallback_model),
    ):
        if value is not None:
            doc.setdefault(section, {})[key] = value
    if no_accelerate:
        doc["accelerate"] = False
    ws = workspace()
    from modelplane.endpoints.config import check_endpoint_name, parse_config

    check_endpoint_name(endpoint)
    parsed = parse_config(doc)
    # Every model URI must resolve now (an unknown model, version or alias exits 2 naming which)
    # and its files match their checksums, as the SDK and the HTTP deploy check.
    for uri in parsed.model_uris:
        ws.registry.verify(uri)
    ep = ws.endpoints.deploy(endpoint, parsed)
    if json_out:
        print_json(ep.to_dict())
        return
    note(f"endpoint {ep.name} → {_serves(ep.config)} (generation {ep.generation})")


@app.command("list")
def list_endpoints(json_out: JsonFlag = False) -> None:
    """List endpoints and what they point at."""
    eps = workspace().endpoints.list()
    if json_out:
        print_json([e.to_dict() for e in eps])
        return
    if not eps:
        note("no endpoints yet: modelplane deploy NAME models:/MODEL@ALIAS")
        return
    table = new_table("Endpoints", "name", "serves", "generation", "updated", "by")
    for e in eps:
        table.add_row(
            cell(e.name),
            cell(_serves(e.config)),
            cell(e.generation),
            cell(fmt_time(e.updated_at)),
            cell(e.updated_by),
        )
    show(table)


@app.command("show")
def show_endpoint(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")], json_out: JsonFlag = False
) -> None:
    """The endpoint's full configuration."""
    ep = workspace().endpoints.get(endpoint)
    if json_out:
        print_json(ep.to_dict())
        return
    typer.echo(json.dumps(ep.to_dict(), indent=2))


@app.command("delete")
def delete_endpoint(endpoint: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Delete an endpoint; servers stop serving it within seconds."""
    workspace().endpoints.delete(endpoint)
    note(f"endpoint {endpoint} deleted")
