"""Settings: where state lives and which backends are used.

Read from the environment (``MODELPLANE_*``, the fixed names of the spec), then from an optional
``modelplane.toml`` in the working directory; the environment wins, explicit arguments to
:func:`load_settings` win over both. Constructing settings does no I/O beyond reading that file.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from modelplane.errors import InvalidInputError

AUTH_MODES = ("auto", "required", "off")

_ENV = {
    "home": "MODELPLANE_HOME",
    "db_url": "MODELPLANE_DB_URL",
    "artifacts": "MODELPLANE_ARTIFACTS",
    "encryption_key": "MODELPLANE_ENCRYPTION_KEY",
    "auth": "MODELPLANE_AUTH",
    "secrets_dir": "MODELPLANE_SECRETS_DIR",
    "step_modules": "MODELPLANE_STEP_MODULES",
    "audit_anchor": "MODELPLANE_AUDIT_ANCHOR",
    "allow_private_urls": "MODELPLANE_ALLOW_PRIVATE_URLS",
    "prediction_log": "MODELPLANE_PREDICTION_LOG",
    "log_fsync_interval": "MODELPLANE_PREDICTION_LOG_FSYNC",
    "log_retention": "MODELPLANE_PREDICTION_LOG_RETENTION",
    "log_max_size": "MODELPLANE_PREDICTION_LOG_MAX_SIZE",
}

#: where answered predictions are kept: ``auto`` (segments with SQLite metadata, the database
#: with PostgreSQL), ``segments`` (files under the home), ``database`` (PostgreSQL), ``off``
PREDICTION_LOG_MODES = ("auto", "segments", "database", "off")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. ``db_url`` and ``artifacts`` are always filled in."""

    home: Path
    db_url: str
    artifacts: str
    encryption_key: str | None = None
    auth: str = "auto"
    #: where server secrets live (audit key, PII salt, key files): never in the database
    secrets_dir: Path | None = None
    #: modules whose functions inference-graph ``python`` steps may name (admin configuration)
    step_modules: tuple[str, ...] = ()
    #: where each committed audit head is also recorded: a file (absolute path) or http(s) URL
    audit_anchor: str | None = None
    #: outgoing requests may reach private, loopback and link-local addresses (a deployment
    #: inside a private network); cloud metadata addresses stay refused
    allow_private_urls: bool = False
    #: the prediction log's backend (:data:`PREDICTION_LOG_MODES`)
    prediction_log: str = "auto"
    #: segments: seconds between flushes of the log to stable storage (0: every batch)
    log_fsync_interval: float = 1.0
    #: seconds a logged prediction is kept (None: forever); default 30 days
    log_retention: float | None = 30 * 86400.0
    #: bytes the log may take before its oldest records are dropped (None: no limit)
    log_max_size: int | None = None

    @property
    def secrets_path(self) -> Path:
        return self.secrets_dir if self.secrets_dir is not None else self.home / "secrets"

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class ServerSettings:
    """How ``modelplane serve`` runs a server: the bind address and the server's own knobs.

    Built by the CLI (or a test) and handed to every worker process as one environment variable
    (:data:`SERVER_ENV`, JSON), so workers started by uvicorn see exactly what the parent saw.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    insecure: bool = False  # serve beyond loopback without authentication
    poll_interval: float = 1.0  # seconds between checks for endpoint and alias changes
    drain_seconds: float = 2.0  # on SIGTERM: seconds of 503 readiness before shutting down
    #: Host header values accepted (``None``: loopback names when bound to loopback, else any)
    allowed_hosts: tuple[str, ...] | None = None
    #: browser origins besides the server's own that may make state-changing requests
    allowed_origins: tuple[str, ...] = ()
    #: accept pickle-based model payloads from operators (``None``: only on loopback)
    allow_pickle_models: bool | None = None
    #: requests per second per token (``None``: no limit); bursts up to one second's worth
    rate_limit: float | None = None
    #: failed authentications per minute per client address before 429
    auth_failure_limit: int = 30
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None  # when set, clients must present a certificate it signed
    limit_concurrency: int = 1000  # open connections + in-flight requests per worker
    timeout_keep_alive: float = 5.0  # idle keep-alive connections close after this
    timeout_request: float = 30.0  # headers and body must arrive within this
    #: ``modelplane serve MODEL_URI``: serve only this model, as an endpoint named after it, with
    #: the default endpoint settings (nothing stored; ``None``: every stored endpoint)
    model_uri: str | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def pickle_models_allowed(self) -> bool:
        return self.loopback if self.allow_pickle_models is None else self.allow_pickle_models

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def to_env(self) -> str:
        import json

        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        """The settings a parent ``modelplane serve`` left in :data:`SERVER_ENV` (defaults
        when it is unset, e.g. an app built in-process)."""
        import json

        raw = (os.environ if env is None else env).get(SERVER_ENV)
        if not raw:
            return cls()
        try:
            values = json.loads(raw)
            for key in ("allowed_hosts", "allowed_origins"):
                if isinstance(values.get(key), list):
                    values[key] = tuple(values[key])
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"{SERVER_ENV} is malformed: {exc}", field=SERVER_ENV) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or host name) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


SERVER_ENV = "MODELPLANE_SERVER_SETTINGS"


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not valid TOML ({exc})", field=str(path)) from exc
    section = data.get("modelplane", data)
    if not isinstance(section, dict):
        raise InvalidInputError(f"{path}: [modelplane] must be a table", field=str(path))
    unknown = set(section) - set(_ENV)
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown setting(s) {sorted(unknown)}; known: {sorted(_ENV)}", field=str(path)
        )
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in section.items()}


def load_settings(
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    **overrides: str | Path | None,
) -> Settings:
    """Resolve settings: explicit overrides > environment > ``modelplane.toml`` > defaults."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    values: dict[str, Any] = _read_toml(cwd / "modelplane.toml")
    for key, var in _ENV.items():
        if env.get(var):
            values[key] = env[var]
    for key, value in overrides.items():
        if key not in _ENV:
            raise InvalidInputError(f"unknown setting {key!r}; known: {sorted(_ENV)}", field=key)
        if value is not None:
            values[key] = str(value)

    home = Path(values.get("home") or ".modelplane")
    if not home.is_absolute():
        home = (cwd / home).resolve()
    db_url = values.get("db_url") or f"sqlite:///{home / 'modelplane.db'}"
    artifacts = values.get("artifacts") or str(home / "artifacts")
    auth = values.get("auth") or "auto"
    if auth not in AUTH_MODES:
        raise InvalidInputError(
            f"MODELPLANE_AUTH must be one of {', '.join(AUTH_MODES)}, got {auth!r}", field="auth"
        )
    secrets_dir = values.get("secrets_dir")
    return Settings(
        home=home,
        db_url=db_url,
        artifacts=artifacts,
        encryption_key=values.get("encryption_key") or None,
        auth=auth,
        secrets_dir=(cwd / secrets_dir).resolve() if secrets_dir else None,
        step_modules=_module_list(values.get("step_modules") or ""),
        audit_anchor=_audit_anchor(values.get("audit_anchor") or "", cwd),
        allow_private_urls=_flag(values.get("allow_private_urls"), "allow_private_urls"),
        **_log_settings(values),
    )


def _log_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The prediction log's settings, checked."""
    mode = (values.get("prediction_log") or "auto").strip().lower()
    if mode not in PREDICTION_LOG_MODES:
        raise InvalidInputError(
            f"MODELPLANE_PREDICTION_LOG must be one of {', '.join(PREDICTION_LOG_MODES)}, "
            f"got {mode!r}",
            field="prediction_log",
        )
    out: dict[str, Any] = {"prediction_log": mode}
    fsync = values.get("log_fsync_interval")
    if fsync not in (None, ""):
        try:
            seconds = float(fsync)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 3600:
            raise InvalidInputError(
                "MODELPLANE_PREDICTION_LOG_FSYNC must be seconds between 0 and 3600, "
                f"got {fsync!r}",
                field="log_fsync_interval",
            )
        out["log_fsync_interval"] = seconds
    retention = values.get("log_retention")
    if retention not in (None, ""):
        out["log_retention"] = (
            None
            if str(retention).strip().lower() in ("0", "none", "forever")
            else parse_age(retention, "MODELPLANE_PREDICTION_LOG_RETENTION")
        )
    size = values.get("log_max_size")
    if size not in (None, ""):
        out["log_max_size"] = (
            None
            if str(size).strip().lower() in ("0", "none")
            else parse_size(size, "MODELPLANE_PREDICTION_LOG_MAX_SIZE")
        )
    return out


def parse_size(value: str | int | None, field: str) -> int | None:
    """``"10GB"``, ``"500MB"``, ``"1024"`` → bytes (None/empty: no limit)."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip().upper().replace(" ", "")
    units = {"TB": 1 << 40, "GB": 1 << 30, "MB": 1 << 20, "KB": 1 << 10, "B": 1}
    unit = next((u for u in units if text.endswith(u)), "")
    number, factor = (text[: -len(unit)], units[unit]) if unit else (text, 1)
    try:
        size = float(number)
    except ValueError:
        size = math.nan
    if not math.isfinite(size) or size <= 0:
        raise InvalidInputError(
            f"{field} must be a size such as 10GB or 500MB, got {value!r}", field=field
        )
    return int(size * factor)


def parse_age(value: str | float | None, field: str) -> float | None:
    """``"30d"``, ``"12h"``, ``"15m"``, ``"90s"`` or seconds → seconds (None/empty: forever)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
        factor = units.get(text[-1:], 1.0)
        number = text[:-1] if text[-1:] in units else text
        try:
            seconds = float(number) * factor
        except ValueError:
            seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(
            f"{field} must be a duration such as 30d, 12h or 15m, got {value!r}", field=field
        )
    return seconds


def _flag(value: str | None, key: str) -> bool:
    """A boolean setting: 1/true/yes/on or 0/false/no/off (unset: false)."""
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidInputError(f"{_ENV[key]} must be true or false, got {value!r}", field=key)


def _audit_anchor(value: str, cwd: Path) -> str | None:
    """``MODELPLANE_AUDIT_ANCHOR``: an http(s) URL, or a file path (made absolute)."""
    if not value:
        return None
    if value.startswith(("https://", "http://")):
        return value
    if "://" in value:
        raise InvalidInputError(
            "MODELPLANE_AUDIT_ANCHOR must be a file path or an http(s) URL", field="audit_anchor"
        )
    return str((cwd / Path(value).expanduser()).resolve())


def _module_list(value: str) -> tuple[str, ...]:
    """``MODELPLANE_STEP_MODULES``: comma-separated dotted module names."""
    out: list[str] = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        if not all(part.isidentifier() for part in item.split(".")):
            raise InvalidInputError(
                f"MODELPLANE_STEP_MODULES: {item!r} is not a dotted module name",
                field="step_modules",
            )
        out.append(item)
    return tuple(out)


def check_home(home: Path, source: str) -> None:
    """Refuse a home whose parent folder does not exist (a typo would otherwise create a new,
    empty store). A missing home whose parent exists is created when first used."""
    if not home.exists() and not home.parent.is_dir():
        raise InvalidInputError(
            f"{source}: {home} cannot be created: its parent folder {home.parent} does not "
            "exist; create it first or choose another home",
            field="home",
        )


def settings_for(
    home: str | Path | None = None,
    db_url: str | None = None,
    artifacts: str | None = None,
) -> Settings:
    """Settings for an explicit home / database / artifact store (``None`` = not given).

    Like :func:`load_settings`, except that a new ``home`` moves the embedded defaults with it:
    the SQLite file and the artifact folder go under that home unless ``db_url`` / ``artifacts``
    are given or ``MODELPLANE_DB_URL`` / ``MODELPLANE_ARTIFACTS`` are set.
    """
    settings = load_settings(home=home, db_url=db_url, artifacts=artifacts)
    if home is not None:
        fresh = load_settings(home=home)
        settings = settings.with_overrides(
            db_url=db_url or (None if os.environ.get(_ENV["db_url"]) else fresh.db_url),
            artifacts=artifacts or (None if os.environ.get(_ENV["artifacts"]) else fresh.artifacts),
        )
    return settings
