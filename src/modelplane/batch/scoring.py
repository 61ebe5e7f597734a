"""Batch scoring: a CSV or Parquet file in, predictions out, in bounded memory.

:func:`score_file` scores a ``models:/`` URI (one runtime) or an endpoint name (its graph: steps,
several models, ensemble, threshold, label map; the endpoint's fallback is not used). The input is
streamed — Parquet with ``ParquetFile.iter_batches``, CSV with pyarrow's streaming
``open_csv`` reader — and cut into batches of ``batch_size`` rows; each batch is scored and
appended to the output (``ParquetWriter`` / ``CSVWriter``), so memory depends on the batch size,
not on the file size.

Each batch becomes model input the way the server does it: for numeric signatures a ``float64``
2-D array in signature column order (built straight from the Arrow columns, without pandas);
otherwise a DataFrame. Nulls, NaN and infinities in numeric model columns are rejected with the
row number, as the server rejects them.

Output columns: ``prediction``; ``proba_<class>`` per class when the model (or ensemble) gives
probabilities (class names after the graph's label map); the ``keep_columns`` copied from the
input unchanged (e.g. an id); ``model`` = ``name/version`` (for a graph, the versions joined by
``+``). The output is written to a hidden temporary file next to ``output_path`` and renamed into
place at the end, so a failed run leaves no partial output. Missing columns, unreadable files and
unsupported extensions raise before anything is written.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.errors import (
    InvalidInputError,
    ModelplaneError,
    NotFoundError,
    SchemaValidationError,
)
from modelplane.inference.graph import Graph, check_finite, model_input
from modelplane.inference.prediction import Prediction

if TYPE_CHECKING:
    import pyarrow as pa

    from modelplane.context import Workspace
    from modelplane.inference.runtime import ModelRuntime
    from modelplane.registry.records import ModelVersion

FORMATS = (".csv", ".parquet")
MAX_BATCH_SIZE = 1_000_000
RESERVED_COLUMNS = ("prediction", "model")
#: Bytes per CSV block. Arrow's streaming reader reads up to 32 blocks ahead, so this bounds the
#: read-ahead to 8 MiB; a single CSV row must fit in one block.
CSV_BLOCK_SIZE = 256 * 1024
#: Parquet column chunks are read through a buffer of this size instead of all at once.
PARQUET_BUFFER = 1 << 20


@dataclass(frozen=True)
class ScoreProgress:
    """Where a scoring run is: rows scored, and units done of total (rows for Parquet input, bytes
    read for CSV input, whose row count is unknown until the end)."""

    rows: int
    done: int
    total: int | None
    unit: str  # "rows" | "bytes"


ProgressFn = Callable[[ScoreProgress], None]


@dataclass(frozen=True)
class ScoreSummary:
    rows: int
    seconds: float
    model_versions: list[str]
    output: str
    target: str = ""
    columns: list[str] = field(default_factory=list)
    batches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "seconds": round(self.seconds, 4),
            "model_versions": self.model_versions,
            "output": self.output,
            "target": self.target,
            "columns": self.columns,
            "batches": self.batches,
        }


@dataclass
class ScoringTarget:
    """What a TARGET resolved to: the graph and one loaded runtime per distinct model URI."""

    graph: Graph
    runtimes: dict[str, ModelRuntime]
    versions: dict[str, ModelVersion]

    @property
    def model_versions(self) -> list[str]:
        ids: list[str] = []
        for uri in self.graph.model_uris:
            mv = self.versions[uri]
            ident = f"{mv.name}/{mv.version}"
            if ident not in ids:
                ids.append(ident)
        return ids

    @property
    def classes(self) -> list[list[Any] | None]:
        return [_runtime_classes(self.runtimes[uri]) for uri in self.graph.model_uris]


def _runtime_classes(runtime: ModelRuntime) -> list[Any] | None:
    if runtime.classes is None:
        return None
    if runtime.version.signature.get("output_kind") not in (None, "classification", "unknown"):
        return None
    return list(runtime.classes)


# -- the entry point ------------------------------------------------------------------------------


def score_file(
    workspace: Workspace,
    target: str,
    input_path: str | Path,
    output_path: str | Path,
    *,
    batch_size: int = 10_000,
    keep_columns: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
    accelerate: bool | None = None,
) -> ScoreSummary:
    """Score ``input_path`` with ``target`` into ``output_path`` (see the module docstring).

    ``accelerate`` defaults to True for a ``models:/`` URI and to the endpoint's own setting for
    an endpoint.
    """
    start = time.perf_counter()
    src, out = _check_paths(Path(input_path), Path(output_path))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise InvalidInputError("batch size must be an integer", field="batch_size")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInputError(
            f"batch size must be between 1 and {MAX_BATCH_SIZE:,}, got {batch_size}",
            field="batch_size",
        )
    keep = _check_keep(keep_columns)
    resolved = resolve_target(workspace, target, accelerate=accelerate)
    scorer = _Scorer(resolved, keep)
    source = _open_source(src, batch_size, scorer.column_types(), scorer.read_columns())
    scorer.check_columns(source.names)

    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")
    sink = _Sink(tmp, out.suffix.lower())
    rows = batches = 0
    try:
        for table in source.tables:
            result = scorer.score(table, rows)
            sink.write(result)
            rows += table.num_rows
            batches += 1
            if progress is not None:
                progress(ScoreProgress(rows, source.done(rows), source.total, source.unit))
        if sink.schema is None:  # no rows: still write the columns
            sink.write(scorer.empty(source.schema))
        columns = list(sink.schema.names) if sink.schema is not None else []
        sink.close()
        os.replace(tmp, out)
    except BaseException:
        sink.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    if progress is not None:
        progress(ScoreProgress(rows, source.total or rows, source.total, source.unit))
    return ScoreSummary(
        rows=rows,
        seconds=time.perf_counter() - start,
        model_versions=resolved.model_versions,
        output=str(out),
        target=target,
        columns=columns,
        batches=batches,
    )


def resolve_target(
    workspace: Workspace, target: str, *, accelerate: bool | None = None
) -> ScoringTarget:
    """A ``models:/`` URI or an endpoint name → its graph and loaded runtimes."""
    from modelplane.core.uris import is_model_uri
    from modelplane.endpoints.config import EndpointConfig, check_endpoint_name
    from modelplane.inference.runtime import load_runtime

    if not isinstance(target, str) or not target:
        raise InvalidInputError("give a models:/ URI or an endpoint name", field="target")
    registry = workspace.registry
    if is_model_uri(target):
        mv = registry.resolve(target)
        graph = Graph.from_config(EndpointConfig(model=mv.uri))
        versions = {mv.uri: mv}
        use_accel = True if accelerate is None else accelerate
    else:
        if "://" in target or "/" in target:
            raise InvalidInputError(
                f"{target[:100]!r} is neither a models:/ URI nor an endpoint name",
                field="target",
            )
        check_endpoint_name(target)
        try:
            endpoint = workspace.endpoints.get(target)
        except NotFoundError:
            raise NotFoundError(
                f"no endpoint named {target!r} (to score a model, pass models:/{target}/VERSION "
                f"or models:/{target}@ALIAS)",
                field="target",
            ) from None
        graph = Graph.from_config(endpoint.config, step_modules=workspace.settings.step_modules)
        versions = {uri: registry.resolve(uri) for uri in dict.fromkeys(graph.model_uris)}
        use_accel = endpoint.config.accelerate if accelerate is None else accelerate
    loaded: dict[tuple[str, int], ModelRuntime] = {}  # two URIs may name the same version
    runtimes = {}
    for uri, mv in versions.items():
        key = (mv.name, mv.version)
        if key not in loaded:
            loaded[key] = load_runtime(registry, mv, accelerate=use_accel)
        runtimes[uri] = loaded[key]
    return ScoringTarget(graph, runtimes, versions)


# -- checks ---------------------------------------------------------------------------------------


def _check_paths(src: Path, out: Path) -> tuple[Path, Path]:
    for path, what in ((src, "input"), (out, "output")):
        if path.suffix.lower() not in FORMATS:
            raise InvalidInputError(
                f"{what} file {str(path)[:200]!r} must end in .csv or .parquet", field=what
            )
    if not src.exists():
        raise NotFoundError(f"input file {str(src)[:200]!r} does not exist", field="input")
    if not src.is_file():
        raise InvalidInputError(f"input {str(src)[:200]!r} is not a file", field="input")
    if not os.access(src, os.R_OK):
        raise InvalidInputError(f"input file {str(src)[:200]!r} is not readable", field="input")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(
            f"the folder of output {str(out)[:200]!r} does not exist", field="output"
        )
    if out.is_dir():
        raise InvalidInputError(f"output {str(out)[:200]!r} is a folder", field="output")
    if out.exists() and out.resolve() == src.resolve():
        raise InvalidInputError("the output file would replace the input file", field="output")
    return src, out


def _check_keep(keep_columns: Sequence[str] | None) -> list[str]:
    keep = list(keep_columns or ())
    for col in keep:
        if not isinstance(col, str) or not col:
            raise InvalidInputError("--keep needs a column name", field="keep")
        if col in RESERVED_COLUMNS or col.startswith("proba_"):
            raise InvalidInputError(
                f"cannot keep column {col!r}: the output has its own {col!r} column", field=col
            )
    if len(set(keep)) != len(keep):
        raise InvalidInputError("a --keep column is given twice", field="keep")
    return keep


# -- reading --------------------------------------------------------------------------------------


@dataclass
class _Source:
    names: list[str]
    schema: pa.Schema
    tables: Iterator[pa.Table]
    total: int | None
    unit: str
    bytes_for: Callable[[int], int] | None  # rows scored → bytes of input behind them
    closer: Callable[[], None]

    def done(self, rows: int) -> int:
        if self.bytes_for is None:
            return rows
        return min(self.bytes_for(rows), self.total or 0)

    def close(self) -> None:
        self.closer()


def _open_source(
    path: Path, batch_size: int, column_types: dict[str, Any], columns: list[str] | None
) -> _Source:
    import pyarrow as pa

    where = str(path)[:200]
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            # No pre-buffering: it would cache every requested row group's bytes until the end.
            pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_BUFFER)
            schema = pf.schema_arrow
            total = int(pf.metadata.num_rows)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot read Parquet file {where!r}: {exc}", field="input"
            ) from None
        names = list(schema.names)
        wanted = None if columns is None else [c for c in names if c in set(columns)]
        batches = pf.iter_batches(batch_size=batch_size, columns=wanted)
        return _Source(
            names,
            schema if wanted is None else pa.schema([schema.field(c) for c in wanted]),
            _rebatch(_guarded(batches, where), batch_size),
            total,
            "rows",
            None,
            pf.close,
        )
    import pyarrow.csv as pacsv

    stream = pa.OSFile(str(path), "rb")
    try:
        size = stream.size()
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_SIZE),
            convert_options=pacsv.ConvertOptions(column_types=column_types),
        )
    except (pa.ArrowException, OSError, ValueError) as exc:
        stream.close()
        raise InvalidInputError(f"cannot read CSV file {where!r}: {exc}", field="input") from None

    def close() -> None:
        try:
            reader.close()
        finally:
            stream.close()

    offsets = _CsvOffsets(size)
    return _Source(
        list(reader.schema.names),
        reader.schema,
        _rebatch(offsets.track(_guarded(iter(reader), where)), batch_size),
        size,
        "bytes",
        offsets.bytes_for,
        close,
    )


class _CsvOffsets:
    """How many bytes of a CSV file the first N rows came from, for the progress bar.

    The stream's position says little: Arrow reads up to 32 blocks ahead, so on a file of a few
    MiB it is at the end before the first batch is scored. Each record batch Arrow yields is
    parsed from one block of ``CSV_BLOCK_SIZE`` bytes, so batch k ends near byte k × block size;
    rows inside a batch are interpolated. Marks already passed are dropped (bounded memory).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.marks: deque[tuple[int, int]] = deque()  # (rows read so far, bytes they came from)
        self.passed = (0, 0)

    def track(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = 0
        for blocks, batch in enumerate(batches, start=1):
            rows += batch.num_rows
            self.marks.append((rows, min(blocks * CSV_BLOCK_SIZE, self.size)))
            yield batch

    def bytes_for(self, rows: int) -> int:
        while self.marks and self.marks[0][0] <= rows:
            self.passed = self.marks.popleft()
        done_rows, done_bytes = self.passed
        if not self.marks or rows <= done_rows:
            return done_bytes
        next_rows, next_bytes = self.marks[0]
        share = (rows - done_rows) / (next_rows - done_rows)
        return done_bytes + round(share * (next_bytes - done_bytes))


def _guarded(batches: Iterator[pa.RecordBatch], where: str) -> Iterator[pa.RecordBatch]:
    """Arrow's reading errors (a bad value deep in a CSV, a corrupt page) as InvalidInputError."""
    import pyarrow as pa

    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as exc:
            hint = ""
            if "straddl" in str(exc):
                hint = f" (a CSV row longer than {CSV_BLOCK_SIZE // 1024} KiB is not supported)"
            raise InvalidInputError(f"cannot read {where!r}: {exc}{hint}", field="input") from None
        yield batch


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Re-cut record batches into tables of exactly ``size`` rows (the last may be shorter)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(size - count, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            count += take
            offset += take
            if count == size:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


# -- scoring --------------------------------------------------------------------------------------


class _Scorer:
    def __init__(self, target: ScoringTarget, keep: list[str]) -> None:
        self.target = target
        self.graph = target.graph
        self.keep = keep
        self.model_label = "+".join(target.model_versions)
        self.classes = target.classes
        self.out_classes = self.graph.output_classes(self.classes)
        self.proba_names = _proba_names(self.out_classes, self.graph.output_labels(self.classes))
        self.uris = list(dict.fromkeys(self.graph.model_uris))
        # Numeric models and no preprocessing: Arrow columns → float64 array, no pandas.
        self.direct = not self.graph.has_preprocess

    def model_columns(self) -> list[str]:
        cols: list[str] = []
        for uri in self.uris:
            for col in self.target.runtimes[uri].spec.columns:
                if col not in cols:
                    cols.append(col)
        return cols

    def read_columns(self) -> list[str] | None:
        """Columns to read (None: all — preprocessing steps may use any column)."""
        if not self.direct:
            return None
        if any(not self.target.runtimes[u].spec.columns for u in self.uris):
            return None
        return [*self.model_columns(), *self.keep]

    def column_types(self) -> dict[str, Any]:
        """CSV column types for the models' columns (so the first block cannot mis-infer them)."""
        import pyarrow as pa

        if not self.direct:
            return {}
        types: dict[str, Any] = {}
        for uri in self.uris:
            spec = self.target.runtimes[uri].spec
            for col, dtype in zip(spec.columns, spec.dtypes, strict=True):
                kind = _dtype_kind(dtype)
                if kind in "iuf":
                    types[col] = pa.float64()
                elif kind == "b":
                    types[col] = pa.bool_()
                elif kind in "OUS":
                    types[col] = pa.string()
        return types

    def check_columns(self, names: Sequence[str]) -> None:
        present = set(names)
        needed = [*self.keep, *(self.model_columns() if self.direct else [])]
        for col in needed:
            if col not in present:
                raise SchemaValidationError(
                    f"the input file has no column {col!r} (it has: {_listing(names)})",
                    field=col,
                )

    def score(self, table: pa.Table, offset: int) -> pa.Table:
        graph = self.graph
        if self.direct:
            inputs = {uri: self._direct_input(uri, table, offset) for uri in self.uris}
        else:
            specs = [self.target.runtimes[uri].spec for uri in graph.model_uris]
            each = graph.model_inputs(table.to_pandas(), None, specs, row_offset=offset)
            inputs = dict(zip(graph.model_uris, each, strict=True))
        answers = {uri: self._predict(uri, inputs[uri], offset, table.num_rows) for uri in inputs}
        result = graph.finish([answers[uri] for uri in graph.model_uris], self.classes)
        return self._table(result, table)

    def _direct_input(self, uri: str, table: pa.Table, offset: int) -> Any:
        spec = self.target.runtimes[uri].spec
        if spec.numeric and spec.columns:
            return arrow_to_float64(table, spec.columns, spec.dtypes, offset)
        cols = list(spec.columns)
        frame = table.select(cols).to_pandas() if cols else table.to_pandas()
        return model_input(frame, spec, row_offset=offset)

    def _predict(self, uri: str, X: Any, offset: int, n: int) -> Prediction:
        runtime = self.target.runtimes[uri]
        try:
            return runtime.predict(X)
        except ModelplaneError:
            raise
        except Exception as exc:
            raise ModelplaneError(
                f"{runtime.model_id} failed on rows {offset + 1}-{offset + n}: "
                f"{type(exc).__name__}: {exc}",
                field="model",
            ) from exc

    def _table(self, result: Prediction, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        n = table.num_rows
        outputs = np.asarray(result.outputs)
        if outputs.ndim == 2 and outputs.shape[1] == 1:
            outputs = outputs[:, 0]
        if outputs.ndim != 1 or len(outputs) != n:
            raise ModelplaneError(
                f"the model answered outputs of shape {outputs.shape} for {n} rows", field="model"
            )
        arrays: list[Any] = [_arrow_values(outputs)]
        names = ["prediction"]
        if result.probabilities is not None:
            proba = np.asarray(result.probabilities, dtype=np.float64)
            labels = self.proba_names
            if labels is None or len(labels) != proba.shape[1]:
                labels = [f"proba_{j}" for j in range(proba.shape[1])]
            for j, name in enumerate(labels):
                arrays.append(pa.array(np.ascontiguousarray(proba[:, j])))
                names.append(name)
        for col in self.keep:
            arrays.append(table.column(col))
            names.append(col)
        arrays.append(pa.repeat(self.model_label, n))
        names.append("model")
        return pa.Table.from_arrays(arrays, names=names)

    def empty(self, input_schema: pa.Schema) -> pa.Table:
        """The output's columns with no rows (an input without rows)."""
        import pyarrow as pa

        fields = []
        if self.out_classes:
            fields.append(pa.field("prediction", _arrow_values(np.asarray(self.out_classes)).type))
            for name in self.proba_names or []:
                fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field("prediction", pa.float64()))
        for col in self.keep:
            fields.append(input_schema.field(col))
        fields.append(pa.field("model", pa.string()))
        return pa.schema(fields).empty_table()


def arrow_to_float64(
    table: pa.Table, columns: Sequence[str], dtypes: Sequence[str], row_offset: int = 0
) -> np.ndarray:
    """Numeric Arrow columns → one ``float64`` 2-D array in ``columns`` order (nulls rejected)."""
    import pyarrow as pa

    out = np.empty((table.num_rows, len(columns)), dtype=np.float64)
    for j, (col, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        column = table.column(col)
        kind = column.type
        if not (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_decimal(kind)
            or pa.types.is_null(kind)
        ):
            raise SchemaValidationError(
                f"column {col!r} must hold numbers ({dtype}); the input file has {kind}",
                field=col,
            )
        out[:, j] = column.cast(pa.float64()).to_numpy()
    check_finite(out, columns, row_offset)
    return out


def _arrow_values(values: np.ndarray) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError):  # mixed labels, e.g. a partial label map
        return pa.array([None if v is None else str(v) for v in values.tolist()], pa.string())


def _proba_names(classes: list[Any] | None, labels: list[Any] | None) -> list[str] | None:
    for candidate in (labels, classes):
        if candidate is None:
            continue
        names = [f"proba_{c}" for c in candidate]
        if len(set(names)) == len(names):
            return names
    return None


def _dtype_kind(dtype: str) -> str:
    try:
        return str(np.dtype(dtype).kind)
    except TypeError:
        return "O" if dtype in ("string", "str") else "?"


def _listing(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


# -- writing --------------------------------------------------------------------------------------


class _Sink:
    """Writes output tables incrementally; the schema is fixed by the first table."""

    def __init__(self, path: Path, suffix: str) -> None:
        self.path = path
        self.suffix = suffix
        self.schema: pa.Schema | None = None
        self.writer: Any = None

    def write(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
            self.writer = self._open(table.schema)
        elif table.schema != self.schema:
            table = self._conform(table)
        self.writer.write_table(table)

    def _open(self, schema: pa.Schema) -> Any:
        if self.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(str(self.path), schema)
        import pyarrow.csv as pacsv

        return pacsv.CSVWriter(str(self.path), schema)

    def _conform(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        assert self.schema is not None
        if table.schema.names != self.schema.names:
            raise ModelplaneError(
                f"a batch answered columns {table.schema.names}, earlier batches "
                f"{self.schema.names}",
                field="output",
            )
        try:
            return table.cast(self.schema)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise ModelplaneError(
                f"a batch's predictions do not fit the output's column types: {exc}",
                field="output",
            ) from None

    def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.close()


__all__ = [
    "ProgressFn",
    "ScoreProgress",
    "ScoreSummary",
    "ScoringTarget",
    "arrow_to_float64",
    "resolve_target",
    "score_file",
]
