"""The step types of an inference graph, compiled once from the endpoint config.

Preprocessing steps work on a :class:`pandas.DataFrame` and return a new one (the caller's frame
is never modified; pandas' copy-on-write makes the shallow copies cheap). All are vectorised:

``select``   keep and reorder ``columns``; a missing column is a :class:`SchemaValidationError`.
``rename``   ``mapping`` old → new; a missing source column is a :class:`SchemaValidationError`.
``fillna``   replace nulls with ``value`` (a scalar, or a ``{column: value}`` mapping), in
             ``columns`` only when given.
``clip``     bound values to ``lower``/``upper`` in ``columns`` (default: every numeric column).
``scale``    ``(x - mean[c]) / std[c]`` for the columns of ``mean`` (or ``columns``); a zero,
             negative or non-finite ``std`` is rejected when the graph is compiled.
``python``   ``function`` = ``'package.module:function'``, resolved when the graph is compiled,
             and only from the modules an admin allowed (``MODELPLANE_STEP_MODULES``, i.e.
             ``Settings.step_modules``; a module allows its submodules; empty: no python steps).
             The name is checked *before* anything is imported, the function is looked up with
             ``getattr`` on the allowed module only, and its ``__module__`` must be allowed too,
             so ``os:system``, ``builtins:eval``, ``modelplane.x:y`` (unless listed) or
             ``allowed_mod:os.system`` are refused (:mod:`modelplane.core.callables`). The
             endpoint service applies the same check when a config is deployed. In
             ``preprocess`` the function receives and returns a DataFrame; in ``postprocess`` it
             receives and returns ``{"outputs": list, "probabilities": list | None}``.

Configuration problems raise :class:`InvalidInputError` naming the step
(``graph.preprocess[2].function``; a function outside the allowed modules:
:class:`~modelplane.errors.UnsafeInputError`, HTTP 422); problems with the data raise
:class:`SchemaValidationError` naming the column. Failures *inside* python functions are turned into ``StepError`` by
:mod:`modelplane.inference.graph`, which runs the steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelplane.core.callables import resolve_function
from modelplane.endpoints.config import Step
from modelplane.errors import InvalidInputError, SchemaValidationError

#: What a compiled preprocessing step does: DataFrame in, DataFrame out.
FrameFn = Callable[[Any], Any]


@dataclass(frozen=True)
class CompiledStep:
    """One compiled step: where it sits in the config, what it is, and the function to run."""

    where: str  # "graph.preprocess[0]"
    type: str
    run: FrameFn
    function: str | None = None  # the dotted path of python steps

    @property
    def is_python(self) -> bool:
        return self.type == "python"

    def describe(self) -> str:
        """``graph.preprocess[1] (python pkg.mod:fn)`` — how errors name the step."""
        detail = f"python {self.function}" if self.function else self.type
        return f"{self.where} ({detail})"


# -- compiling ----------------------------------------------------------------------------------


def compile_preprocess(
    steps: Sequence[Step], step_modules: Sequence[str] = ()
) -> list[CompiledStep]:
    """Compile ``graph.preprocess``; bad parameters, functions outside ``step_modules`` (the
    allowed modules) or unimportable functions raise here."""
    return [_compile(step, f"graph.preprocess[{i}]", step_modules) for i, step in enumerate(steps)]


def compile_postprocess(
    steps: Sequence[Step], step_modules: Sequence[str] = ()
) -> list[CompiledStep]:
    """Compile ``graph.postprocess``: only ``python`` steps act on predictions."""
    compiled = []
    for i, step in enumerate(steps):
        where = f"graph.postprocess[{i}]"
        if step.type != "python":
            raise InvalidInputError(
                f"{where}: only python steps can follow the models (got {step.type!r}); "
                "use threshold and label_map for labels",
                field=f"{where}.type",
            )
        fn = load_function(step.function or "", where, step_modules)
        compiled.append(CompiledStep(where, "python", fn, step.function))
    return compiled


def _compile(step: Step, where: str, step_modules: Sequence[str]) -> CompiledStep:
    if step.type == "select":
        return CompiledStep(where, "select", _select(_names(step.columns, where), where))
    if step.type == "rename":
        return CompiledStep(where, "rename", _rename(dict(step.mapping or {}), where))
    if step.type == "fillna":
        return CompiledStep(where, "fillna", _fillna(step, where))
    if step.type == "clip":
        return CompiledStep(where, "clip", _clip(step, where))
    if step.type == "scale":
        return CompiledStep(where, "scale", _scale(step, where))
    if step.type == "python":
        fn = load_function(step.function or "", where, step_modules)
        return CompiledStep(where, "python", _python_frame(fn), step.function)
    raise InvalidInputError(f"{where}: unknown step type {step.type!r}", field=f"{where}.type")


def _names(columns: Sequence[str] | None, where: str) -> tuple[str, ...]:
    names = tuple(columns or ())
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{where}: columns are listed twice", field=f"{where}.columns")
    return names


def load_function(path: str, where: str, allowed: Sequence[str] = ()) -> Callable[..., Any]:
    """The function ``'package.module:function'`` names, if it is one of the ``allowed`` modules'
    (nothing is imported before the name passed); any failure is an InvalidInputError naming
    ``{where}.function`` (UnsafeInputError for names outside ``allowed``)."""
    return resolve_function(path, allowed, where)


# -- the steps ----------------------------------------------------------------------------------


def _missing(frame: Any, columns: Sequence[str], where: str, what: str) -> None:
    present = set(frame.columns)
    for col in columns:
        if col not in present:
            raise SchemaValidationError(
                f"{where} ({what}): the input has no column {col!r}", field=col
            )


def _numeric_columns(frame: Any, columns: Sequence[str], where: str, what: str) -> None:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    for col in columns:
        dtype = frame[col].dtype
        if not is_numeric_dtype(dtype) or is_bool_dtype(dtype):
            raise SchemaValidationError(
                f"{where} ({what}): column {col!r} must hold numbers, not {dtype}", field=col
            )


def _select(columns: tuple[str, ...], where: str) -> FrameFn:
    if not columns:
        raise InvalidInputError(f"{where}: select needs at least one column", field=where)
    wanted = list(columns)

    def run(frame: Any) -> Any:
        _missing(frame, wanted, where, "select")
        return frame[wanted]

    return run


def _rename(mapping: dict[str, str], where: str) -> FrameFn:
    if not mapping:
        raise InvalidInputError(f"{where}: rename needs a mapping", field=f"{where}.mapping")
    targets = list(mapping.values())
    if len(set(targets)) != len(targets):
        raise InvalidInputError(
            f"{where}: rename maps two columns to the same name", field=f"{where}.mapping"
        )
    sources = list(mapping)

    def run(frame: Any) -> Any:
        _missing(frame, sources, where, "rename")
        out = frame.rename(columns=mapping)
        if out.columns.has_duplicates:
            dup = next(c for c in out.columns[out.columns.duplicated()])
            raise SchemaValidationError(
                f"{where} (rename): the result has column {dup!r} twice", field=str(dup)
            )
        return out

    return run


def _fillna(step: Step, where: str) -> FrameFn:
    value = step.value
    columns = _names(step.columns, where) if step.columns is not None else None
    if value is None:
        raise InvalidInputError(f"{where}: a fillna step needs 'value'", field=f"{where}.value")
    if isinstance(value, Mapping):
        if columns is not None:
            raise InvalidInputError(
                f"{where}: give either a value per column or 'columns', not both",
                field=f"{where}.columns",
            )
        fill: Any = {str(k): v for k, v in value.items()}
        needed = list(fill)
    elif columns is not None:
        fill = dict.fromkeys(columns, value)
        needed = list(columns)
    else:
        fill = value
        needed = []

    def run(frame: Any) -> Any:
        _missing(frame, needed, where, "fillna")
        try:
            return frame.fillna(fill)
        except (TypeError, ValueError) as exc:
            raise SchemaValidationError(f"{where} (fillna): {exc}", field=where) from None

    return run


def _clip(step: Step, where: str) -> FrameFn:
    lower, upper = step.lower, step.upper
    if lower is None and upper is None:
        raise InvalidInputError(f"{where}: a clip step needs 'lower' or 'upper'", field=where)
    if lower is not None and upper is not None and lower > upper:
        raise InvalidInputError(
            f"{where}: lower ({lower}) is above upper ({upper})", field=f"{where}.lower"
        )
    columns = list(_names(step.columns, where)) if step.columns is not None else None

    def run(frame: Any) -> Any:
        if columns is None:
            from pandas.api.types import is_bool_dtype, is_numeric_dtype

            cols = [
                c
                for c, dtype in frame.dtypes.items()
                if is_numeric_dtype(dtype) and not is_bool_dtype(dtype)
            ]
        else:
            _missing(frame, columns, where, "clip")
            _numeric_columns(frame, columns, where, "clip")
            cols = columns
        if not cols:
            return frame
        out = frame.copy(deep=False)
        out[cols] = frame[cols].clip(lower=lower, upper=upper)
        return out

    return run


def _scale(step: Step, where: str) -> FrameFn:
    mean = dict(step.mean or {})
    std = dict(step.std or {})
    columns = list(_names(step.columns, where)) if step.columns is not None else list(mean)
    if not columns:
        raise InvalidInputError(f"{where}: scale needs at least one column", field=where)
    for col in columns:
        if col not in mean:
            raise InvalidInputError(f"{where}: no mean for column {col!r}", field=f"{where}.mean")
        if col not in std:
            raise InvalidInputError(f"{where}: no std for column {col!r}", field=f"{where}.std")
        s, m = std[col], mean[col]
        if not math.isfinite(m):
            raise InvalidInputError(
                f"{where}: mean of {col!r} must be a finite number", field=f"{where}.mean.{col}"
            )
        if not math.isfinite(s) or s <= 0:
            raise InvalidInputError(
                f"{where}: std of {col!r} must be a positive finite number, got {s}",
                field=f"{where}.std.{col}",
            )
    means = np.array([mean[c] for c in columns], dtype=np.float64)
    stds = np.array([std[c] for c in columns], dtype=np.float64)

    def run(frame: Any) -> Any:
        _missing(frame, columns, where, "scale")
        _numeric_columns(frame, columns, where, "scale")
        values = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
        out = frame.copy(deep=False)
        out[columns] = (values - means) / stds
        return out

    return run


def _python_frame(fn: Callable[..., Any]) -> FrameFn:
    def run(frame: Any) -> Any:
        import pandas as pd

        result = fn(frame)
        if not isinstance(result, pd.DataFrame):
            raise TypeError(f"the function returned {type(result).__name__}, not a DataFrame")
        return result

    return run


__all__ = [
    "CompiledStep",
    "FrameFn",
    "compile_postprocess",
    "compile_preprocess",
    "load_function",
]
