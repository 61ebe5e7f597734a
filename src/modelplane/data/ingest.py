"""Registering a dataset from a CSV or Parquet file in bounded memory.

Reading the whole file into one DataFrame (and hashing, profiling and re-encoding it) made a
100 MB CSV upload take the server from 431 MB to 1.6 GB. Here the file is read in chunks of
about :data:`CHUNK_CELLS` values, each chunk hashed and appended to a normalised Parquet file as
it comes; the profile is computed one column at a time from that file. Peak memory is a chunk,
or one column while profiling — not the table.

The results are the ones the whole-table path gives (:func:`~modelplane.data.service.
content_hash`, :func:`~modelplane.data.profile.profile_frame`), so a file registered here and the
same data registered as a DataFrame are one version:

* row hashes (pandas' ``hash_pandas_object``) depend only on each row's values and its columns'
  dtypes, so chunks hashed one after another give the whole table's hashes;
* a column's dtype must then be the same in every chunk, and the one a whole-table read gives.
  For Parquet it is fixed by the file, except integer and boolean columns with nulls somewhere
  (pandas reads those as float64 and object). A CSV is read twice: the first pass finds each
  column's dtype over the whole file, the second reads every chunk as that. Integers and
  floats make float64, integers or booleans with empty cells float64 or object, text anywhere
  makes the column text (read as written), other mixtures object — what pandas gives reading
  the file at once, except where pandas' own answer depends on its internal buffer boundaries
  (a large file whose column turns from numbers to text: pandas mixes numbers and strings in
  one column, which Parquet cannot store; here the column is text).

The profile's per-column statistics are exact, so profiling holds one whole column (about
50 MB of temporaries per million numeric rows).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

CHUNK_CELLS = 250_000
"""Values per chunk (rows = this / columns, at least :data:`MIN_CHUNK_ROWS`)."""
MIN_CHUNK_ROWS = 1_000


@dataclass(frozen=True)
class PreparedFile:
    """A file turned into what a dataset version stores: the normalised Parquet file (data
    columns only, the dtypes below) and the facts recorded about it."""

    parquet: Path
    digest: str  # content hash: the same as content_hash() of the whole table
    num_rows: int
    dtypes: dict[str, Any]  # column → pandas dtype

    @property
    def schema(self) -> dict[str, str]:
        return {c: str(t) for c, t in self.dtypes.items()}

    def profile(self) -> dict[str, Any]:
        """profile_frame() of the whole table, computed one column at a time."""
        import pyarrow.parquet as pq

        from modelplane.data.profile import profile_column

        stored = pq.ParquetFile(self.parquet)
        columns = {}
        for name, dtype in self.dtypes.items():
            series = stored.read(columns=[name]).to_pandas()[name]
            if str(series.dtype) != str(dtype):  # (a category's categories are the data's)
                series = series.astype(dtype)
            columns[name] = profile_column(series)
        return {"num_rows": self.num_rows, "columns": columns}


class _Unhashable(Exception):
    """A chunk held values pandas cannot hash (lists, dicts): hash their text form instead."""


def chunk_rows(columns: int) -> int:
    return max(MIN_CHUNK_ROWS, CHUNK_CELLS // max(columns, 1))


def prepare_file(path: Path, work: Path, kind: str) -> PreparedFile:
    """Read ``path`` (``kind``: "csv" or "parquet") in chunks into ``work/data.parquet``."""
    import pandas as pd
    import pyarrow as pa

    target = work / "data.parquet"
    try:
        if kind == "csv":
            dtypes, num_rows, rows = _csv_dtypes(path)
            chunks = _csv_chunks(path, dtypes, rows)
        else:
            dtypes, num_rows, chunks = _parquet_chunks(path)
        digest = _write(chunks, dtypes, num_rows, target)
    except (ValueError, OSError, pd.errors.ParserError, pa.ArrowException) as exc:
        # ParserError, UnicodeDecodeError and pyarrow's ArrowInvalid are ValueErrors
        raise InvalidInputError(f"{path.name}: cannot read as {kind}: {exc}", field="path") from exc
    except _Unhashable:
        digest = _rehash_as_text(target, dtypes, num_rows)
    return PreparedFile(target, digest, num_rows, dtypes)


def _check_columns(columns: list[str]) -> None:
    from modelplane.data.service import MAX_COLUMNS

    if not columns:
        raise InvalidInputError("the dataset has no columns", field="data")
    if len(columns) > MAX_COLUMNS:
        raise InvalidInputError(f"more than {MAX_COLUMNS} columns", field="data")
    if len(set(columns)) != len(columns):
        raise InvalidInputError("column names must be unique", field="data")


# -- CSV ------------------------------------------------------------------------------------------


def _csv_dtypes(path: Path) -> tuple[dict[str, Any], int, int]:
    """First pass: each column's dtype over the whole file, the row count, rows per chunk."""
    import pandas as pd

    header = pd.read_csv(path, nrows=0)
    columns = [str(c) for c in header.columns]
    _check_columns(columns)
    rows = chunk_rows(len(columns))
    kinds: dict[str, set[Any]] = {c: set() for c in columns}
    nulls: set[str] = set()
    num_rows = 0
    for chunk in pd.read_csv(path, chunksize=rows):
        num_rows += len(chunk)
        counts = chunk.notna().sum().to_numpy()
        for column, dtype, count in zip(columns, chunk.dtypes, counts, strict=True):
            if count < len(chunk):
                nulls.add(column)
            if count:
                kinds[column].add(dtype)
    if num_rows == 0:  # a header alone: pandas' dtypes of an empty read
        return dict(zip(columns, header.dtypes, strict=True)), 0, rows
    return {c: _merged(kinds[c], c in nulls) for c in columns}, num_rows, rows


def _merged(kinds: set[Any], has_nulls: bool) -> Any:
    """The dtype a whole-file read gives a column whose chunks (with values) had ``kinds``."""
    import numpy as np

    if not kinds:
        return np.dtype("float64")  # no value anywhere
    if len(kinds) == 1:
        (dtype,) = kinds
        if isinstance(dtype, np.dtype) and has_nulls:
            if dtype.kind in "iu":
                return np.dtype("float64")
            if dtype.kind == "b":
                return np.dtype("object")
        return dtype
    if all(isinstance(d, np.dtype) and d.kind in "iuf" for d in kinds):
        return np.dtype("float64")
    text = [d for d in kinds if _is_text(d)]
    if text:  # text here, numbers there: the column is text (read as written, not re-printed)
        return text[0]
    return np.dtype("object")


def _is_text(dtype: Any) -> bool:
    import pandas as pd

    return isinstance(dtype, pd.StringDtype)


def _csv_chunks(path: Path, dtypes: dict[str, Any], rows: int) -> Iterator[pd.DataFrame]:
    """Second pass: the chunks again, every column converted to its whole-file dtype."""
    import pandas as pd

    found = False
    text = {c: t for c, t in dtypes.items() if _is_text(t)}  # parsed as text, not numbers
    for chunk in pd.read_csv(path, chunksize=rows, dtype=text or None):
        found = True
        differ = {c: t for c, t in dtypes.items() if chunk[c].dtype != t}
        yield chunk.astype(differ) if differ else chunk
    if not found:
        yield pd.read_csv(path, nrows=0).set_axis(list(dtypes), axis=1)


# -- Parquet --------------------------------------------------------------------------------------


def _parquet_chunks(path: Path) -> tuple[dict[str, Any], int, Iterator[pd.DataFrame]]:
    """The data columns' dtypes (a whole-file read's), the row count and the chunks, read by
    batches of rows (stored index columns are left out, as ``reset_index(drop=True)`` did)."""
    import numpy as np
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    arrow = source.schema_arrow
    index = _index_columns(arrow)
    columns = [name for name in arrow.names if name not in index]
    _check_columns(columns)
    empty = arrow.empty_table().select(columns).to_pandas()
    dtypes: dict[str, Any] = dict(zip(columns, empty.dtypes, strict=True))
    casts: dict[str, Any] = {}
    for column, dtype in dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind in "iub" and _has_nulls(source, column):
            casts[column] = np.dtype("float64" if dtype.kind in "iu" else "object")
    dtypes.update(casts)

    def chunks() -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        batches = source.iter_batches(batch_size=chunk_rows(len(columns)), columns=columns)
        found = False
        for batch in batches:
            found = True
            frame = pa.Table.from_batches([batch]).to_pandas()
            yield frame.astype(casts) if casts else frame
        if not found:
            yield empty

    return dtypes, source.metadata.num_rows, chunks()


def _index_columns(arrow: pa.Schema) -> set[str]:
    """Columns pandas stored for an index (named in the pandas metadata)."""
    raw = (arrow.metadata or {}).get(b"pandas")
    if not raw:
        return set()
    try:
        meta = json.loads(raw)
    except ValueError:
        return set()
    return {c for c in meta.get("index_columns", []) if isinstance(c, str)}


def _has_nulls(source: Any, column: str) -> bool:
    """Whether ``column`` holds a null anywhere: from the row groups' statistics when every
    one has them, else by reading that column alone."""
    meta = source.metadata
    position = source.schema_arrow.names.index(column)
    counts = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(position).statistics
        if stats is None or not stats.has_null_count:
            return bool(source.read(columns=[column]).column(0).null_count)
        counts.append(stats.null_count)
    return any(counts)


# -- hashing and writing -------------------------------------------------------------------------


def _digest(dtypes: dict[str, Any], num_rows: int) -> Any:
    """A SHA-256 holding what content_hash() puts before the row hashes."""
    digest = hashlib.sha256()
    header = [[c, str(t)] for c, t in dtypes.items()]
    digest.update(json.dumps(header).encode())
    digest.update(str(num_rows).encode())
    return digest


def _write(
    chunks: Iterator[pd.DataFrame], dtypes: dict[str, Any], num_rows: int, target: Path
) -> str:
    """Hash the chunks' rows and write them to ``target``; the content hash. Raises
    :class:`_Unhashable` (after writing everything) if some values could not be hashed."""
    import pandas as pd

    digest = _digest(dtypes, num_rows)
    unhashable = False
    with _ParquetSink(target) as sink:
        for chunk in chunks:
            if len(chunk) and not unhashable:
                try:
                    rows = pd.util.hash_pandas_object(chunk, index=False)
                    digest.update(rows.to_numpy().tobytes())
                except TypeError:
                    unhashable = True
            sink.write(chunk)
    if unhashable:
        raise _Unhashable
    return str(digest.hexdigest())


def _rehash_as_text(target: Path, dtypes: dict[str, Any], num_rows: int) -> str:
    """content_hash()'s fallback for unhashable values: every value's text form."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    digest = _digest(dtypes, num_rows)
    stored = pq.ParquetFile(target)
    for batch in stored.iter_batches(batch_size=chunk_rows(len(dtypes))):
        frame = pa.Table.from_batches([batch]).to_pandas()
        rows = pd.util.hash_pandas_object(frame.astype(str), index=False)
        digest.update(rows.to_numpy().tobytes())
    return str(digest.hexdigest())


class _ParquetSink:
    """Chunks appended to one Parquet file, with the schema of the first chunk whose columns
    all have a type (a column of nulls only has none yet; such chunks wait, bounded by how
    long a column stays empty — in the worst case the whole file, as before)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.writer: Any = None
        self.pending: list[pa.Table] = []

    def __enter__(self) -> _ParquetSink:
        return self

    def write(self, chunk: pd.DataFrame) -> None:
        import pyarrow as pa

        try:
            if self.writer is not None:
                table = pa.Table.from_pandas(chunk, schema=self.writer.schema, preserve_index=False)
                self.writer.write_table(table)
                return
            table = pa.Table.from_pandas(chunk, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"cannot store the dataset as Parquet: {exc}", field="data"
            ) from exc
        self.pending.append(table)
        if not any(pa.types.is_null(f.type) for f in table.schema):
            self._open(table.schema)

    def _open(self, schema: pa.Schema) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.writer = pq.ParquetWriter(self.target, schema)
        pending, self.pending = self.pending, []
        for table in pending:
            try:
                self.writer.write_table(table.cast(schema))
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise InvalidInputError(
                    f"cannot store the dataset as Parquet: {exc}", field="data"
                ) from exc

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None and self.writer is None and self.pending:
                self._open(self.pending[-1].schema)  # columns of nulls only: stored as such
        finally:
            if self.writer is not None:
                self.writer.close()


__all__ = ["CHUNK_CELLS", "PreparedFile", "chunk_rows", "prepare_file"]
