"""The endpoint configuration document, validated with pydantic (errors name the field).

An endpoint answers through a **traffic policy** over one or more named **variants**; each
variant is one model URI (``models:/churn@champion`` follows alias moves) or an inference graph
(preprocessing steps, several models combined by an ensemble, a threshold, a label map,
postprocessing steps). ``model`` or ``graph`` at the top level is the shorthand for the
``single`` policy over one variant named ``default`` (what ``modelplane deploy NAME URI``
writes); ``traffic`` spells the policy out. Batching, limits, the circuit breaker and the
fallback are per endpoint.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelplane.core.names import check_name
from modelplane.core.uris import parse_model_uri
from modelplane.errors import InvalidInputError

STEP_TYPES = ("select", "rename", "fillna", "clip", "scale", "python")
DEFAULT_VARIANT = "default"
POLICIES = ("single",)
MAX_VARIANTS = 16


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _model_uri(value: str) -> str:
    parse_model_uri(value)  # raises InvalidInputError naming the problem
    return value


class BatchingConfig(_Strict):
    max_batch_size: int = Field(256, ge=1, le=100_000, description="rows per model call")
    max_wait_ms: float = Field(
        0.0, ge=0, le=1000, description="extra wait for companions when idle (0: none)"
    )


MAX_BATCH_ROWS = 100_000
"""The most rows one request may carry on any endpoint (``limits.max_batch_rows`` is at most this)."""


class LimitsConfig(_Strict):
    max_request_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024**3)
    max_batch_rows: int = Field(
        10_000, ge=1, le=MAX_BATCH_ROWS, description="rows per prediction request (413 beyond)"
    )
    max_queue_rows: int = Field(8192, ge=1, le=10_000_000)
    timeout_ms: float = Field(10_000, gt=0, le=600_000, description="per-model time limit")


class BreakerConfig(_Strict):
    failure_threshold: int = Field(5, ge=1, le=10_000, description="consecutive failures to open")
    reset_after_s: float = Field(10.0, gt=0, le=3600, description="open time before a trial call")


class FallbackConfig(_Strict):
    model: str | None = Field(None, description="models:/ URI answering when the primary cannot")
    default: Any = Field(None, description="fixed answer per row when no fallback model serves")

    @field_validator("model")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        return None if value is None else _model_uri(value)


class Step(_Strict):
    type: Literal["select", "rename", "fillna", "clip", "scale", "python"]
    columns: list[str] | None = None
    mapping: dict[str, str] | None = None
    value: Any = None
    lower: float | None = None
    upper: float | None = None
    mean: dict[str, float] | None = None
    std: dict[str, float] | None = None
    function: str | None = Field(None, description="'package.module:function' for python steps")

    @model_validator(mode="after")
    def _fields_for_type(self) -> Step:
        need = {
            "select": ("columns",),
            "rename": ("mapping",),
            "scale": ("mean", "std"),
            "python": ("function",),
        }.get(self.type, ())
        for name in need:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.type} step needs '{name}'")
        if self.function is not None and not _is_dotted(self.function):
            raise ValueError("function must look like 'package.module:function'")
        return self


def _is_dotted(text: str) -> bool:
    module, _, func = text.partition(":")
    parts = [*module.split("."), func]
    return bool(module and func) and all(p.isidentifier() for p in parts)


class GraphModel(_Strict):
    uri: str
    weight: float = Field(1.0, gt=0)

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return _model_uri(value)


class GraphConfig(_Strict):
    preprocess: list[Step] = Field(default_factory=list)
    models: list[GraphModel] = Field(min_length=1, max_length=32)
    ensemble: Literal["none", "mean", "weighted", "vote"] = "none"
    threshold: float | None = Field(None, ge=0, le=1, description="P(positive) cut-off")
    label_map: dict[str, Any] | None = None
    postprocess: list[Step] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ensemble(self) -> GraphConfig:
        if len(self.models) > 1 and self.ensemble == "none":
            raise ValueError("several models need an ensemble: mean, weighted or vote")
        return self


class VariantConfig(_Strict):
    """One way an endpoint can answer: a model URI or an inference graph."""

    name: str = Field(DEFAULT_VARIANT, min_length=1, max_length=64)
    model: str | None = Field(None, description="a models:/ URI")
    graph: GraphConfig | None = None
    weight: float = Field(
        100.0, ge=0, le=100, description="percent of traffic, for policies that split it"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_name(value, "variant name")
        except InvalidInputError as exc:  # as a ValueError, pydantic names the field
            raise ValueError(exc.message) from None

    @field_validator("model")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        return None if value is None else _model_uri(value)

    @model_validator(mode="after")
    def _one_source(self) -> VariantConfig:
        if (self.model is None) == (self.graph is None):
            raise ValueError("give exactly one of 'model' (a models:/ URI) or 'graph'")
        return self

    @property
    def model_uris(self) -> list[str]:
        return (
            [self.model] if self.model else [m.uri for m in self.graph.models] if self.graph else []
        )


class TrafficConfig(_Strict):
    """How requests are spread over the variants. ``single``: one variant answers everything."""

    policy: Literal["single"] = "single"
    variants: list[VariantConfig] = Field(min_length=1, max_length=MAX_VARIANTS)

    @model_validator(mode="after")
    def _variants(self) -> TrafficConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        if self.policy == "single" and len(self.variants) != 1:
            raise ValueError("the single policy takes exactly one variant")
        return self


class EndpointConfig(_Strict):
    model: str | None = Field(None, description="the model URI of a plain endpoint")
    graph: GraphConfig | None = None
    traffic: TrafficConfig | None = Field(
        None, description="a traffic policy over named variants (instead of model or graph)"
    )
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    accelerate: bool = Field(True, description="use ONNX Runtime when numerically equivalent")
    coerce: Literal["strict", "safe"] = Field(
        "strict",
        description="request validation: 'strict' refuses unknown columns and values of the "
        "wrong type (422 naming the column); 'safe' also accepts numbers written as strings and "
        "ignores unknown columns",
    )

    @field_validator("model")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        return None if value is None else _model_uri(value)

    @model_validator(mode="after")
    def _one_source(self) -> EndpointConfig:
        given = sum(x is not None for x in (self.model, self.graph, self.traffic))
        if given != 1:
            raise ValueError(
                "give exactly one of 'model' (a models:/ URI), 'graph' or 'traffic' (variants)"
            )
        return self

    @cached_property
    def policy(self) -> TrafficConfig:
        """The traffic policy, with the ``model``/``graph`` shorthand spelled out."""
        if self.traffic is not None:
            return self.traffic
        return TrafficConfig(variants=[VariantConfig(model=self.model, graph=self.graph)])

    @property
    def model_uris(self) -> list[str]:
        """Every model URI the endpoint needs: all variants', then the fallback's."""
        uris = [uri for v in self.policy.variants for uri in v.model_uris]
        if self.fallback.model:
            uris.append(self.fallback.model)
        return uris


def parse_config(data: Any) -> EndpointConfig:
    """Validate a config document; errors become InvalidInputError naming the field."""
    from pydantic import ValidationError

    if isinstance(data, EndpointConfig):
        return data
    try:
        return EndpointConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InvalidInputError(
            f"endpoint config: {where}: {first['msg']}", field=where, errors=len(exc.errors())
        ) from None
    except InvalidInputError:
        raise


def check_endpoint_name(name: object) -> str:
    return check_name(name, "endpoint name")
