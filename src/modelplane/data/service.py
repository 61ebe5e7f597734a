"""Dataset registration: a DataFrame or a CSV/Parquet file becomes a content-hashed version.

The content hash covers column names, dtypes and every value (pandas' row hashing, order-
sensitive), so registering the same content twice returns the same version and different content
makes a new one. Versions are stored as Parquet in the artifact store under
``datasets/<name>/<hash>.parquet``.

Registration is safe under concurrency: version numbers come from the dataset's counter
(:func:`~modelplane.stores.metadata.repository.claim_next`), and the content hash is unique per
dataset, so two processes registering the same content at once get the same version. The
artifact key is content-addressed, so the loser of such a race wrote the very object the winner
references: nothing is deleted and nothing is left behind.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from modelplane.audit import AuditLog
from modelplane.core.names import check_name
from modelplane.core.sql import now_ms
from modelplane.core.uris import dataset_ref
from modelplane.data.records import DatasetVersion
from modelplane.errors import ConflictError, InvalidInputError, NotFoundError
from modelplane.stores.artifacts import ArtifactStore
from modelplane.stores.metadata import MetadataStore
from modelplane.stores.metadata.repository import claim_next, get_or_create, insert_or_ignore
from modelplane.stores.metadata.schema import dataset_versions, datasets

if TYPE_CHECKING:
    import pandas as pd

MAX_COLUMNS = 10_000
_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class _AlreadyRegistered(Exception):
    """Raised inside the write transaction to roll it back (and give back the claimed number)
    when a concurrent registration of the same content committed first."""


def content_hash(df: pd.DataFrame) -> str:
    import pandas as pd

    digest = hashlib.sha256()
    header = [[str(c), str(t)] for c, t in zip(df.columns, df.dtypes, strict=True)]
    digest.update(json.dumps(header).encode())
    digest.update(str(len(df)).encode())
    if len(df):
        try:
            rows = pd.util.hash_pandas_object(df, index=False)
        except TypeError:  # unhashable cells (lists, dicts): hash their text form
            rows = pd.util.hash_pandas_object(df.astype(str), index=False)
        digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


class DatasetService:
    def __init__(
        self, meta: MetadataStore, artifacts: ArtifactStore, audit: AuditLog, actor: str
    ) -> None:
        self.meta = meta
        self.artifacts = artifacts
        self.audit = audit
        self.actor = actor

    def register(self, name: str, data: Any, *, source: str | None = None) -> DatasetVersion:
        import pandas as pd

        check_name(name, "dataset name")
        if isinstance(data, (str, Path)):
            text = str(data)
            if "://" in text:
                raise InvalidInputError(
                    f"{text[:80]!r}: pass a local CSV/Parquet path or a DataFrame", field="data"
                )
            path = Path(text)
            return self._register_file(name, path, source or str(path.resolve()))
        if isinstance(data, pd.DataFrame):
            df = data
        elif hasattr(data, "to_pandas"):  # pyarrow.Table, polars.DataFrame
            df = data.to_pandas()
        else:
            raise InvalidInputError(
                f"cannot register a {type(data).__name__} as a dataset: pass a pandas DataFrame, "
                "a pyarrow Table or a path to a .csv/.parquet file",
                field="data",
            )
        if df.shape[1] == 0:
            raise InvalidInputError("the dataset has no columns", field="data")
        if df.shape[1] > MAX_COLUMNS:
            raise InvalidInputError(f"more than {MAX_COLUMNS} columns", field="data")
        df = df.copy(deep=False)
        df.columns = [str(c) for c in df.columns]
        if len(set(df.columns)) != len(df.columns):
            raise InvalidInputError("column names must be unique", field="data")
        df = df.reset_index(drop=True)

        digest = content_hash(df)
        existing = self._by_hash(name, digest)
        if existing is not None:
            return existing

        from modelplane.data.profile import profile_frame

        profile = profile_frame(df)
        schema = {c: str(t) for c, t in zip(df.columns, df.dtypes, strict=True)}
        key = f"datasets/{name}/{digest}.parquet"
        self._store(key, df)
        return self._add_version(name, digest, key, len(df), schema, profile, source)

    def _register_file(self, name: str, path: Path, source: str) -> DatasetVersion:
        """A CSV or Parquet file, read in chunks (:mod:`modelplane.data.ingest`): the same
        version, hash and profile as the file read whole, in bounded memory."""
        from modelplane.data.ingest import prepare_file

        kind = _READERS.get(path.suffix.lower())
        if kind is None:
            raise InvalidInputError(
                f"{path.name}: unsupported file type; use .csv or .parquet", field="path"
            )
        if not path.is_file():
            raise InvalidInputError(f"{path} does not exist or is not a file", field="path")
        with tempfile.TemporaryDirectory(prefix="mp-ds-") as tmp:
            prepared = prepare_file(path, Path(tmp), kind)
            existing = self._by_hash(name, prepared.digest)
            if existing is not None:
                return existing
            profile = prepared.profile()
            key = f"datasets/{name}/{prepared.digest}.parquet"
            if self.artifacts.record(key) is None or not self.artifacts.exists(key):
                self.artifacts.put_file(key, prepared.parquet)
        schema = prepared.schema
        return self._add_version(
            name, prepared.digest, key, prepared.num_rows, schema, profile, source
        )

    def _add_version(
        self,
        name: str,
        digest: str,
        key: str,
        num_rows: int,
        schema: dict[str, str],
        profile: dict[str, Any],
        source: str | None,
    ) -> DatasetVersion:
        """Record the version whose data is stored under ``key`` (or find the one a
        concurrent registration of the same content recorded first)."""
        row = {
            "content_hash": digest,
            "artifact_key": key,
            "num_rows": num_rows,
            "num_columns": len(schema),
            "schema": schema,
            "profile": profile,
            "source": source,
            "created_at": now_ms(),
            "created_by": self.actor,
        }
        try:
            self._insert_version(name, row)
        except _AlreadyRegistered:
            pass
        found = self._by_hash(name, digest)
        if found is None:  # only if the version was deleted between the two transactions
            raise ConflictError(
                f"dataset {name!r} changed while registering; register again", field="dataset"
            )
        return found

    def _store(self, key: str, df: pd.DataFrame) -> None:
        """Write the Parquet file under its content-addressed key, unless already stored: by an
        earlier registration whose database write failed, or by a concurrent one."""
        if self.artifacts.record(key) is not None and self.artifacts.exists(key):
            return
        with tempfile.TemporaryDirectory(prefix="mp-ds-") as tmp:
            local = Path(tmp) / "data.parquet"
            try:
                df.to_parquet(local, index=False)
            except (ValueError, TypeError, ImportError) as exc:
                raise InvalidInputError(
                    f"cannot store the dataset as Parquet: {exc}", field="data"
                ) from exc
            self.artifacts.put_file(key, local)

    def _insert_version(self, name: str, row: dict[str, Any]) -> None:
        with self.meta.write() as conn:
            dataset_id = get_or_create(
                conn, datasets, key="name", value=name, defaults={"created_at": row["created_at"]}
            ).id
            # Claiming the number locks the dataset row: a concurrent registration of this
            # dataset waits here, then sees the versions committed meanwhile.
            version = claim_next(conn, datasets, "last_version", dataset_id)
            inserted = insert_or_ignore(
                conn,
                dataset_versions,
                {**row, "dataset_id": dataset_id, "version": version},
                keys=("dataset_id", "content_hash"),
            )
            if not inserted:
                raise _AlreadyRegistered
            self.audit.append(
                conn,
                actor=self.actor,
                action="dataset.register",
                target=f"datasets/{name}/{version}",
                after={
                    "version": version,
                    "content_hash": row["content_hash"],
                    "rows": row["num_rows"],
                },
            )

    def _select(self) -> sa.Select[Any]:
        return sa.select(dataset_versions, datasets.c.name).join(
            datasets, datasets.c.id == dataset_versions.c.dataset_id
        )

    @staticmethod
    def _record(row: Any) -> DatasetVersion:
        return DatasetVersion(
            id=row.id,
            name=row.name,
            version=row.version,
            content_hash=row.content_hash,
            artifact_key=row.artifact_key,
            num_rows=row.num_rows,
            num_columns=row.num_columns,
            schema=row.schema,
            profile=row.profile,
            source=row.source,
            created_at=row.created_at,
            created_by=row.created_by,
        )

    def _by_hash(self, name: str, digest: str) -> DatasetVersion | None:
        with self.meta.read() as conn:
            row = conn.execute(
                self._select().where(
                    datasets.c.name == name, dataset_versions.c.content_hash == digest
                )
            ).first()
        return None if row is None else self._record(row)

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        """A version by name (newest when ``version`` is None) or by ``datasets:/`` URI
        (``datasets:/NAME/VERSION``, ``datasets:/NAME@latest``, ``datasets:/NAME``)."""
        ref = dataset_ref(name, version)
        name, version = ref.name, ref.version
        query = self._select().where(datasets.c.name == name)
        if version is None:
            query = query.order_by(dataset_versions.c.version.desc()).limit(1)
        else:
            query = query.where(dataset_versions.c.version == int(version))
        with self.meta.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            what = f"dataset {name!r}" + (f" version {version}" if version is not None else "")
            raise NotFoundError(f"no {what}", field="dataset")
        return self._record(row)

    def get_by_id(self, version_id: int) -> DatasetVersion:
        with self.meta.read() as conn:
            row = conn.execute(self._select().where(dataset_versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(f"no dataset version with id {version_id}")
        return self._record(row)

    def list(self, name: str | None = None) -> list[DatasetVersion]:
        query = self._select().order_by(datasets.c.name, dataset_versions.c.version)
        if name is not None:
            query = query.where(datasets.c.name == check_name(name, "dataset name"))
        with self.meta.read() as conn:
            return [self._record(r) for r in conn.execute(query)]

    def load(self, name: str, version: int | None = None) -> pd.DataFrame:
        """The stored data, verified against its checksum before it is parsed."""
        import io

        import pandas as pd

        record = self.get(name, version)
        data = self.artifacts.get_bytes(record.artifact_key)
        return pd.read_parquet(io.BytesIO(data))
