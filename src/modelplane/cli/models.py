"""``modelplane models …``: list, show, import, alias, aliases, and alias protection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli import workspace
from modelplane.cli.output import (
    JsonFlag,
    cell,
    fmt_aliases,
    fmt_mapping,
    fmt_time,
    is_terminal,
    key_values,
    new_table,
    note,
    print_json,
    show,
)
from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    from modelplane.registry.records import AliasChange, ModelVersion, RegisteredModel

app = typer.Typer(
    name="models",
    help="Registered models, their versions and aliases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# -- resolving what the user named ---------------------------------------------------------------


def parse_target(
    name: str, version: int | None = None, alias: str | None = None
) -> tuple[str, int | None, str | None]:
    """NAME (or a ``models:/`` URI) plus --version/--alias → (name, version, alias), validated."""
    from modelplane.core.names import check_alias, check_name
    from modelplane.core.uris import is_model_uri, parse_model_uri

    if version is not None and alias is not None:
        raise InvalidInputError("give either --version or --alias, not both", field="version")
    if is_model_uri(name):
        ref = parse_model_uri(name)
        if (ref.version is not None or ref.alias is not None) and (
            version is not None or alias is not None
        ):
            raise InvalidInputError(
                f"{name!r} already names a version; drop --version/--alias", field="version"
            )
        return ref.name, ref.version if ref.version is not None else version, ref.alias or alias
    if "://" in name or name.startswith(("/", "~", ".")) or "/" in name:
        raise InvalidInputError(
            f"{name[:100]!r} is not a model name or a models:/NAME/VERSION or models:/NAME@ALIAS "
            "URI",
            field="model",
        )
    check_name(name, "model name")
    if alias is not None:
        check_alias(alias)
    return name, version, alias


def _resolve(name: str, version: int | None, alias: str | None) -> ModelVersion:
    from modelplane.core.uris import ModelRef

    registry = workspace().registry
    if version is not None:
        return registry.get_version(name, version)
    return registry.resolve(ModelRef(name, alias=alias))


# -- list -----------------------------------------------------------------------------------------


LifecycleOption = Annotated[
    str,
    typer.Option(
        "--lifecycle",
        help="Which ones: active (default), deleted (to find what to restore) or all.",
        metavar="STAGE",
    ),
]


@app.command("list")
def list_models(lifecycle: LifecycleOption = "active", json_out: JsonFlag = False) -> None:
    """List registered models: name, latest version, aliases, last update (and, with --lifecycle
    deleted or all, when each deleted one was deleted)."""
    from modelplane.core.lifecycle import check_lifecycle

    stage = check_lifecycle(lifecycle)
    models = workspace().registry.list_models(lifecycle=stage)
    if json_out:
        print_json([m.to_dict() for m in models])
        return
    if not models:
        note("no models registered yet" if stage == "active" else f"no {stage} models")
        return
    marked = stage != "active"
    table = new_table(
        "Models", "name", "latest", "aliases", "updated", *(["deleted"] if marked else [])
    )
    for m in models:
        table.add_row(
            cell(m.name),
            cell(None if m.latest_version is None else f"v{m.latest_version}"),
            cell(fmt_aliases(m.aliases)),
            cell(fmt_time(m.updated_at)),
            *([cell(_deleted_time(m.deleted_at))] if marked else []),
        )
    show(table)


# -- show -----------------------------------------------------------------------------------------


@app.command("show")
def show_model(
    name: Annotated[
        str, typer.Argument(help="Model name, or a models:/NAME/VERSION or models:/NAME@ALIAS URI.")
    ],
    version: Annotated[
        int | None, typer.Option("--version", "-v", min=1, help="Show this version.")
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", "-a", help="Show the version this alias points to.")
    ] = None,
    card: Annotated[bool, typer.Option("--card", help="Print the version's model card.")] = False,
    lifecycle: Annotated[
        str,
        typer.Option(
            "--lifecycle",
            help="Which versions to list: active (default), deleted (those of a deleted model "
            "too) or all.",
            metavar="STAGE",
        ),
    ] = "active",
    json_out: JsonFlag = False,
) -> None:
    """Show a model's versions, or one version's details (signature, metrics, lineage, files)."""
    from modelplane.core.lifecycle import check_lifecycle

    stage = check_lifecycle(lifecycle)
    name, version, alias = parse_target(name, version, alias)
    if version is None and alias is None and not card:
        _show_model(name, stage, json_out)
        return
    if stage != "active":
        raise InvalidInputError(
            "--lifecycle chooses the versions listed: drop --version, --alias and --card "
            "(a deleted version is shown once restored)",
            field="lifecycle",
        )
    mv = _resolve(name, version, alias)
    if card:
        if json_out:
            print_json(mv.to_dict(with_card=True))
        elif is_terminal():
            from rich.markdown import Markdown

            show(Markdown(mv.model_card))
        else:
            typer.echo(mv.model_card)
        return
    if json_out:
        print_json(mv.to_dict())
        return
    _show_version(mv)


def _show_model(name: str, stage: str, json_out: bool) -> None:
    registry = workspace().registry
    # listing deleted versions reaches a deleted model's too (an active listing refuses it)
    model = registry.get_model(name, include_deleted=stage != "active")
    versions = registry.versions(name, lifecycle=stage)
    if json_out:
        print_json({"model": model.to_dict(), "versions": [v.to_dict() for v in versions]})
        return
    show(_model_header(model))
    if not versions:
        note("no versions yet" if stage == "active" else f"no {stage} versions")
        return
    marked = stage != "active"
    table = new_table(
        "Versions",
        "version",
        "flavor",
        "aliases",
        "metrics",
        "created",
        "by",
        *(["deleted"] if marked else []),
    )
    for v in reversed(versions):
        table.add_row(
            cell(f"v{v.version}"),
            cell(v.flavor),
            cell(fmt_aliases(v.aliases)),
            cell(fmt_mapping(v.metrics)),
            cell(fmt_time(v.created_at)),
            cell(v.created_by),
            *([cell(_deleted_time(v.deleted_at))] if marked else []),
        )
    show(table)


def _deleted_time(deleted_at: int | None) -> str | None:
    return None if deleted_at is None else fmt_time(deleted_at)


def _model_header(model: RegisteredModel) -> Any:
    rows: list[tuple[str, Any]] = [
        ("description", model.description),
        ("latest", None if model.latest_version is None else f"v{model.latest_version}"),
        ("aliases", fmt_aliases(model.aliases)),
        ("created", fmt_time(model.created_at)),
        ("updated", fmt_time(model.updated_at)),
    ]
    if model.deleted_at is not None:
        restore = f"modelplane models restore {model.name}"
        rows.append(("deleted", f"{fmt_time(model.deleted_at)} (restore: {restore})"))
    return key_values(f"Model {model.name}", rows)


def _show_version(mv: ModelVersion) -> None:
    sig = mv.signature or {}
    output = sig.get("output_kind")
    if sig.get("output_dtype"):
        output = f"{output} ({sig['output_dtype']})"
    if sig.get("classes"):
        output = f"{output}, classes {sig['classes']}"
    header = key_values(
        mv.uri,
        [
            ("flavor", mv.flavor),
            ("aliases", fmt_aliases(mv.aliases)),
            ("status", mv.status),
            ("created", f"{fmt_time(mv.created_at)} by {mv.created_by or '?'}"),
            ("description", mv.description),
            ("input", sig.get("input_kind")),
            ("output", output),
            ("run", mv.run_id),
        ],
    )
    renderables: list[Any] = [header]
    inputs = sig.get("inputs") or []
    if inputs:
        marked = any(column.get("pii") is True for column in inputs)
        table = new_table("Signature inputs", "name", "dtype", *(["pii"] if marked else []))
        for column in inputs:
            pii = [cell("yes" if column.get("pii") is True else None)] if marked else []
            table.add_row(cell(column.get("name")), cell(column.get("dtype")), *pii)
        renderables.append(table)
    for title, values in (("Metrics", mv.metrics), ("Params", mv.params), ("Tags", mv.tags)):
        if values:
            table = new_table(title, "key", "value")
            for key, value in sorted(values.items()):
                table.add_row(cell(key), cell(value))
            renderables.append(table)
    lineage = new_table("Lineage", "kind", "name", "version", "content sha256")
    if mv.run_id:
        lineage.add_row(cell("run"), cell(mv.run_id), cell(None), cell(None))
    for ds in mv.datasets:
        lineage.add_row(
            cell("dataset"),
            cell(ds.get("name")),
            cell(ds.get("version")),
            cell(ds.get("content_hash")),
        )
    if lineage.row_count:
        renderables.append(lineage)
    files = new_table("Files", "path", "sha256")
    for path, digest in sorted(mv.files.items()):
        files.add_row(cell(path), cell(digest))
    renderables.append(files)
    show(*renderables)


# -- import ---------------------------------------------------------------------------------------


@app.command("import")
def import_model(
    path: Annotated[str, typer.Argument(help="A local MLflow model directory (with MLmodel).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Register it under this model name.")],
    description: Annotated[
        str, typer.Option("--description", "-d", help="Description of the new version.")
    ] = "",
    json_out: JsonFlag = False,
) -> None:
    """Import an MLflow model directory as a new version of NAME."""
    if "://" in path:
        raise InvalidInputError(
            f"{path[:100]!r} is a URI; pass a local MLflow model directory", field="path"
        )
    mv = workspace().registry.import_model(Path(path), name, description=description)
    if json_out:
        print_json(mv.to_dict())
        return
    note(f"imported {path} as {mv.uri} (flavor {mv.flavor}, {len(mv.files)} file(s))")


# -- aliases --------------------------------------------------------------------------------------


@app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. champion.")],
    version: Annotated[
        int | None, typer.Argument(min=1, help="Version the alias points to (omit with --delete).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", "-r", help="Why; kept in the alias history.")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Point ALIAS of model NAME at VERSION, or remove it with --delete."""
    from modelplane.core.names import check_alias, check_name

    check_name(name, "model name")
    check_alias(alias_name)
    if delete and version is not None:
        raise InvalidInputError("--delete takes no VERSION", field="version")
    if not delete and version is None:
        raise InvalidInputError(
            "missing VERSION (or pass --delete to remove the alias)", field="version"
        )
    registry = workspace().registry
    previous = registry.get_model(name).aliases.get(alias_name)
    if delete:
        registry.delete_alias(name, alias_name, reason=reason)
        if json_out:
            print_json(
                {"name": name, "alias": alias_name, "deleted": True, "previous_version": previous}
            )
        else:
            note(f"deleted @{alias_name} of {name} (was v{previous})")
        return
    assert version is not None
    mv = registry.set_alias(name, alias_name, version, reason=reason)
    if json_out:
        print_json(
            {
                "name": name,
                "alias": alias_name,
                "version": mv.version,
                "previous_version": previous,
                "model_version": mv.to_dict(),
            }
        )
        return
    if previous == mv.version:
        note(f"models:/{name}@{alias_name} already points to v{mv.version}")
    elif previous is None:
        note(f"models:/{name}@{alias_name} → v{mv.version}")
    else:
        note(f"models:/{name}@{alias_name} → v{mv.version} (was v{previous})")


@app.command("aliases")
def aliases(
    name: Annotated[str, typer.Argument(help="Model name.")],
    json_out: JsonFlag = False,
) -> None:
    """The alias history of a model: who moved which alias, from which version to which, why."""
    registry = workspace().registry
    model = registry.get_model(name)
    history = registry.alias_history(name)
    if json_out:
        print_json([change.to_dict() for change in history])
        return
    if model.aliases:
        note(f"current: {fmt_aliases(model.aliases)}")
    if not history:
        note(f"model {name!r} has no alias history")
        return
    table = new_table(f"Alias history of {name}", "time", "alias", "from", "to", "by", "reason")
    for change in history:
        table.add_row(*_history_cells(change))
    show(table)


def _history_cells(change: AliasChange) -> list[Any]:
    return [
        cell(fmt_time(change.ts)),
        cell(f"@{change.alias}"),
        cell(None if change.old_version is None else f"v{change.old_version}"),
        cell("(deleted)" if change.new_version is None else f"v{change.new_version}"),
        cell(change.actor),
        cell(change.reason),
    ]


@app.command("protect")
def protect(
    name: Annotated[str, typer.Argument(help="Model name, or * for every model.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. champion.")],
    role: Annotated[str, typer.Option("--role", help="The least role that may move it.")] = "admin",
    require_gate: Annotated[
        bool,
        typer.Option("--require-gate", help="Only to a version that passed the validation gate."),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Protect an alias: only ROLE or higher may move or delete it (refusals are audited)."""
    rule = workspace().registry.alias_rules.protect(
        name, alias_name, role=role, require_gate=require_gate
    )
    if json_out:
        print_json(rule.to_dict())
        return
    gate = ", only to versions that passed the validation gate" if rule.require_gate else ""
    note(f"{name}@{alias_name}: only {rule.min_role} may move it{gate}")


@app.command("unprotect")
def unprotect(
    name: Annotated[str, typer.Argument(help="Model name, or * for every model.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias.")],
) -> None:
    """Remove an alias's protection."""
    workspace().registry.alias_rules.unprotect(name, alias_name)
    note(f"{name}@{alias_name} is no longer protected")


@app.command("rules")
def rules(
    name: Annotated[str | None, typer.Argument(help="Model name (default: every rule).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List alias protection rules."""
    found = workspace().registry.alias_rules.list(name)
    if json_out:
        print_json([r.to_dict() for r in found])
        return
    if not found:
        note("no alias is protected")
        return
    table = new_table("Alias rules", "model", "alias", "least role", "gate", "by")
    for r in found:
        table.add_row(
            cell(r.model),
            cell(r.alias),
            cell(r.min_role),
            cell("required" if r.require_gate else "-"),
            cell(r.updated_by),
        )
    show(table)


# -- delete and restore ---------------------------------------------------------------------------

VersionArg = Annotated[
    int | None,
    typer.Argument(
        min=1, metavar="VERSION", help="One version (default: the model with every version)."
    ),
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Model name.")]


@app.command("delete")
def delete_model(name: NameArg, version: VersionArg = None) -> None:
    """Delete a model with its versions, or one version: hidden, kept, restorable. Refused while
    an alias points to a version or a deployed endpoint serves it."""
    from modelplane.core.names import check_name

    registry = workspace().registry
    check_name(name, "model name")
    if version is not None:
        registry.delete_version(name, version)
        restore = f"modelplane models restore {name} {version}"
        note(f"deleted models:/{name}/{version} (restore: {restore})")
        return
    versions = registry.delete_model(name)
    listed = ", ".join(f"v{v}" for v in versions) or "no versions"
    note(f"deleted model {name} with {listed} (restore: modelplane models restore {name})")


@app.command("restore")
def restore_model(name: NameArg, version: VersionArg = None) -> None:
    """Restore a deleted model (with the versions deleted with it), or one deleted version."""
    from modelplane.core.names import check_name

    registry = workspace().registry
    check_name(name, "model name")
    if version is not None:
        mv = registry.restore_version(name, version)
        note(f"restored {mv.uri}")
        return
    model = registry.restore_model(name)
    latest = "no versions" if model.latest_version is None else f"latest v{model.latest_version}"
    note(f"restored model {model.name} ({latest})")
