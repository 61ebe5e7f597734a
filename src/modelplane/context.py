"""The Workspace (module ``context``; not ``workspace``, which would shadow ``mp.workspace()``)
wires settings to stores and services; everything in the SDK goes through one.

Constructing a Workspace does no I/O: stores open (and migrate) on first use.
"""

from __future__ import annotations

import getpass
import os
from functools import cached_property
from typing import TYPE_CHECKING

from modelplane.config import Settings, load_settings
from modelplane.core.roles import Role

if TYPE_CHECKING:
    from modelplane.audit import AuditLog
    from modelplane.core.secrets import Secrets
    from modelplane.data.service import DatasetService
    from modelplane.endpoints.service import EndpointService
    from modelplane.monitoring.feedback import FeedbackService
    from modelplane.registry.service import RegistryService
    from modelplane.security.tokens import TokenService
    from modelplane.stores.artifacts import ArtifactStore
    from modelplane.stores.metadata import MetadataStore
    from modelplane.stores.predictions import PredictionLog
    from modelplane.tracking.run_artifacts import RunArtifacts
    from modelplane.tracking.service import TrackingService


def default_actor() -> str:
    explicit = os.environ.get("MODELPLANE_ACTOR")
    if explicit:
        return explicit[:200]
    try:
        return getpass.getuser()[:200]
    except (KeyError, OSError):
        return "unknown"


class Workspace:
    """One installation's services over its settings: ``registry``, ``tracking``, ``datasets``,
    ``endpoints``, ``tokens`` and the audit log, built on first use and closed by ``close()``.

    ``mp.configure()`` makes one the SDK's default; ``acting_as()`` gives a view that records
    another actor (and role) in the audit log.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        actor: str | None = None,
        role: Role | None = None,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.actor = actor or default_actor()
        #: the actor's role when it came from a token (None: the installation's own user, who
        #: may do everything; alias rules compare it)
        self.role = role
        self._owner: Workspace | None = None

    @cached_property
    def meta(self) -> MetadataStore:
        from modelplane.stores.metadata import MetadataStore

        return MetadataStore(self.settings.db_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from modelplane.stores.artifacts import open_artifact_store

        return open_artifact_store(
            self.settings.artifacts, self.meta, encryption_key=self.settings.encryption_key
        )

    @cached_property
    def secrets(self) -> Secrets:
        from modelplane.core.secrets import Secrets

        return Secrets(self.settings.secrets_path)

    @cached_property
    def audit(self) -> AuditLog:
        from modelplane.audit import AuditLog

        return AuditLog(self.meta, self.secrets, anchor=self.settings.audit_anchor)

    @cached_property
    def tracking(self) -> TrackingService:
        from modelplane.tracking.service import TrackingService

        return TrackingService(self.meta, self.audit, self.actor)

    @cached_property
    def run_artifacts(self) -> RunArtifacts:
        from modelplane.tracking.run_artifacts import RunArtifacts

        return RunArtifacts(self.meta, self.artifacts, self.audit, self.actor)

    @cached_property
    def datasets(self) -> DatasetService:
        from modelplane.data.service import DatasetService

        return DatasetService(self.meta, self.artifacts, self.audit, self.actor)

    @cached_property
    def registry(self) -> RegistryService:
        from modelplane.endpoints.usage import model_users
        from modelplane.registry.service import RegistryService

        return RegistryService(
            self.meta,
            self.artifacts,
            self.audit,
            self.actor,
            cache_dir=self.settings.home / "cache",
            role=self.role,
            model_users=model_users,
        )

    @cached_property
    def tokens(self) -> TokenService:
        from modelplane.security.tokens import TokenService

        return TokenService(self.meta, self.audit, self.actor)

    @cached_property
    def endpoints(self) -> EndpointService:
        from modelplane.endpoints.service import EndpointService

        return EndpointService(
            self.meta, self.audit, self.actor, step_modules=self.settings.step_modules
        )

    @cached_property
    def predictions(self) -> PredictionLog | None:
        """The prediction log (None when ``MODELPLANE_PREDICTION_LOG=off``)."""
        from modelplane.core.pii import pii_hasher
        from modelplane.stores.predictions import open_prediction_log

        return open_prediction_log(
            self.settings, self.meta, hasher=lambda: pii_hasher(self.secrets)
        )

    @cached_property
    def feedback(self) -> FeedbackService:
        """Labels of answered predictions."""
        from modelplane.monitoring.feedback import FeedbackService

        return FeedbackService(self.meta, self.predictions, self.audit, self.actor)

    def acting_as(self, actor: str, role: Role | None = None) -> Workspace:
        """The same stores, with services that act (and are audited) as ``actor``.

        The server builds one per request from the caller's identity, so a change made over the
        API is audited as whoever made it, not as the server's own user. Stores (engine, artifact
        store, audit log) are shared, never reopened; services are built lazily, without I/O.
        """
        if actor == self.actor and role == self.role:
            return self
        view = Workspace(self.settings, actor=actor, role=role)
        for shared in ("meta", "secrets", "artifacts", "audit", "predictions"):
            if shared not in self.__dict__:
                getattr(self, shared)  # open it once, here, rather than once per view
            view.__dict__[shared] = self.__dict__[shared]
        view._owner = self
        return view

    def close(self) -> None:
        if self._owner is not None:
            return  # a view: the stores belong to the workspace it was made from
        log = self.__dict__.get("predictions")
        if log is not None:
            log.close()
        if "meta" in self.__dict__:
            self.meta.dispose()

    def __repr__(self) -> str:
        return f"Workspace(db={self.settings.db_url!r}, artifacts={self.settings.artifacts!r})"
