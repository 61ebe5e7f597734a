"""The request pipeline: named stages run in order over one :class:`InferenceRequest`.

The data plane's default stages (:mod:`modelplane.serving.stages`) are::

    authenticate → resolve → receive → choose → validate → predict → record

and the wire protocol encodes the result afterwards. :meth:`Server.handle
<modelplane.serving.server.Server.handle>` runs :attr:`Pipeline.stages` in order. A stage is a callable taking the request;
it returns None, or an awaitable when it has to wait (reading the body, the model, a durable
sink). Stages communicate only through the request's fields. A later feature adds a stage where
it belongs (:meth:`Pipeline.add` with ``before=``/``after=``) or a prediction sink, and edits
neither the protocols nor the other stages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from modelplane.errors import InvalidInputError

if TYPE_CHECKING:
    from modelplane.inference.request import InferenceRequest

Stage = Callable[["InferenceRequest"], Awaitable[None] | None]


class Pipeline:
    def __init__(self, stages: Iterable[tuple[str, Stage]] = ()) -> None:
        self._named: list[tuple[str, Stage]] = []
        #: the stages in order (a plain attribute: read once per request)
        self.stages: tuple[Stage, ...] = ()
        for name, stage in stages:
            self.add(name, stage)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._named]

    def add(
        self, name: str, stage: Stage, *, before: str | None = None, after: str | None = None
    ) -> None:
        """Add ``stage`` at the end, or just before/after the stage named so."""
        if name in self.names:
            raise InvalidInputError(f"the pipeline already has a stage {name!r}", field="name")
        if before is not None and after is not None:
            raise InvalidInputError("give before or after, not both", field="before")
        anchor = before if before is not None else after
        if anchor is None:
            index = len(self._named)
        else:
            if anchor not in self.names:
                raise InvalidInputError(f"the pipeline has no stage {anchor!r}", field="anchor")
            index = self.names.index(anchor) + (0 if before is not None else 1)
        self._named.insert(index, (name, stage))
        self.stages = tuple(s for _, s in self._named)


__all__ = ["Pipeline", "Stage"]
