"""Native JSON bodies → model inputs: the signature-typed fast path (msgspec) must give exactly
what the generic path (orjson + validation) gives, and hand every body it cannot take to the
generic path, which accepts it or names the problem."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import orjson
import pytest

from modelplane.errors import InvalidInputError, SchemaValidationError
from modelplane.inference.inputs import InputSpec
from modelplane.serving.protocols import native

# column names that are not Python identifiers must work as well as plain ones
COLUMNS = ("f0", "my col", "class", "1x", "naïve", "")


def spec_of(columns: tuple[str, ...] = COLUMNS, coerce: str = "strict") -> InputSpec:
    return InputSpec(columns, ("float64",) * len(columns), "dataframe", len(columns), coerce)


def generic(body: bytes, spec: InputSpec) -> Any:
    doc = orjson.loads(body)
    inputs = doc["inputs"]
    return spec.records(inputs) if isinstance(inputs, list) else spec.columnar(inputs)


def random_records(rng: random.Random, n: int, extra: bool = True) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {}
        keys = list(COLUMNS)
        rng.shuffle(keys)  # key order differs from the signature and between rows
        for key in keys:
            row[key] = rng.choice([rng.uniform(-1e6, 1e6), rng.randint(-1000, 1000), 0, -0.0])
        if extra and rng.random() < 0.3:  # ignored under coerce "safe", refused when strict
            row["extra"] = rng.choice([[1, 2], {"a": None}, "text", None])
        rows.append(row)
    return rows


@pytest.mark.parametrize("coerce", ["strict", "safe"])
@pytest.mark.parametrize("seed", range(20))
def test_fast_path_equals_the_generic_path(seed: int, coerce: str) -> None:
    rng = random.Random(seed)
    spec = spec_of(coerce=coerce)
    rows = random_records(rng, rng.randint(1, 40), extra=coerce == "safe")
    for body in (
        orjson.dumps({"inputs": rows}),
        orjson.dumps({"inputs": {c: [r[c] for r in rows] for c in reversed(COLUMNS)}}),
    ):
        fast = spec.native_body(body)
        assert fast is not None, body[:200]
        expected = generic(body, spec)
        assert fast.dtype == np.float64 and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, expected)
        np.testing.assert_array_equal(native.parse(body, spec), expected)


def test_values_land_in_signature_order() -> None:
    spec = spec_of(("b", "a"))
    body = b'{"inputs": [{"a": 1, "b": 2}, {"b": 3.5, "a": -4}]}'
    np.testing.assert_array_equal(native.parse(body, spec), [[2.0, 1.0], [3.5, -4.0]])
    single = spec_of(("only",))
    np.testing.assert_array_equal(
        native.parse(b'{"inputs": [{"only": 7}, {"only": 8}]}', single), [[7.0], [8.0]]
    )
    np.testing.assert_array_equal(
        native.parse(b'{"inputs": {"only": [7, 8]}}', single), [[7.0], [8.0]]
    )


def refused(body: bytes, spec: InputSpec) -> SchemaValidationError:
    with pytest.raises(SchemaValidationError) as caught:
        native.parse(body, spec)
    return caught.value


@pytest.mark.parametrize("form", ["records", "columns"])
def test_strict_refuses_booleans_text_and_unknown_columns_naming_the_column(form: str) -> None:
    """Never a silent conversion: ``true`` is not 1.0, ``"2.5"`` is not 2.5 (422 naming the
    column), and a column the model does not have is refused rather than dropped."""
    spec = spec_of(("a", "b"))

    def body(**cols: Any) -> bytes:
        if form == "records":
            return orjson.dumps({"inputs": [cols]})
        return orjson.dumps({"inputs": {k: [v] for k, v in cols.items()}})

    for doc, column, words in (
        (body(a=True, b=1.0), "a", "got bool"),
        (body(a=1.0, b="2.5"), "b", "got str"),
        (body(a=1.0, b=2.0, c=3.0), "c", "does not have"),
        (body(a=1.0, b=False), "b", "got bool"),
    ):
        assert spec.native_body(doc) is None  # not the typed path's business…
        err = refused(doc, spec)  # …and the generic path names the column
        assert err.field == column and words in err.message, err.message
        assert err.http_status == 422


@pytest.mark.parametrize("form", ["records", "columns"])
def test_safe_parses_numeric_text_and_ignores_unknown_columns_but_refuses_booleans(
    form: str,
) -> None:
    spec = spec_of(("a", "b"), coerce="safe")
    if form == "records":
        ok = b'{"inputs": [{"a": 1, "b": "2.5", "note": "x"}]}'
        boolean = b'{"inputs": [{"a": true, "b": 1}]}'
        junk = b'{"inputs": [{"a": 1, "b": "two"}]}'
    else:
        ok = b'{"inputs": {"a": [1], "b": ["2.5"], "note": ["x"]}}'
        boolean = b'{"inputs": {"a": [true], "b": [1]}}'
        junk = b'{"inputs": {"a": [1], "b": ["two"]}}'
    np.testing.assert_array_equal(native.parse(ok, spec), [[1.0, 2.5]])
    assert refused(boolean, spec).field == "a"
    assert refused(junk, spec).field == "b"


def test_integer_columns_refuse_fractions_on_every_path() -> None:
    spec = InputSpec(("n", "x"), ("int64", "float64"), "dataframe", 2)
    good = b'{"inputs": [{"n": 3, "x": 0.5}, {"n": 4.0, "x": 1}]}'
    np.testing.assert_array_equal(native.parse(good, spec), [[3.0, 0.5], [4.0, 1.0]])
    for body in (
        b'{"inputs": [{"n": 3.5, "x": 0.5}]}',
        b'{"inputs": {"n": [3.5], "x": [0.5]}}',
    ):
        assert spec.native_body(body) is None
        err = refused(body, spec)
        assert err.field == "n" and "integer" in err.message
    with pytest.raises(SchemaValidationError) as caught:
        spec.tensor([3.5, 0.5], [1, 2], "FP64")
    assert "integer" in caught.value.message


@pytest.mark.parametrize(
    ("data", "datatype", "coerce", "ok"),
    [
        ([1.0, 2.0], "FP64", "strict", True),
        ([1, 2], "FP64", "strict", True),
        ([True, 2.0], "FP64", "strict", False),  # a boolean is not 1.0
        (["1.0", 2.0], "FP64", "strict", False),
        ([1.5, 2], "INT64", "strict", False),  # would be truncated to 1
        ([1.0, 2], "INT64", "strict", True),
        ([1, 0], "BOOL", "strict", False),
        (["1.5", "2"], "BYTES", "strict", False),
        (["1.5", "2"], "BYTES", "safe", True),
    ],
)
def test_v2_tensor_values_match_their_datatype(
    data: list[Any], datatype: str, coerce: str, ok: bool
) -> None:
    spec = InputSpec(("a", "b"), ("float64", "float64"), "dataframe", 2, coerce)
    if ok:
        assert spec.tensor(data, [1, 2], datatype).shape == (1, 2)
        return
    with pytest.raises(SchemaValidationError) as caught:
        spec.tensor(data, [1, 2], datatype)
    assert caught.value.field == "input-0.data", caught.value.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"inputs": [{"a": 1}]}', "b"),  # missing column
        (b'{"inputs": [{"a": 1, "b": "x"}]}', "b"),
        (b'{"inputs": [{"a": 1, "b": null}]}', "b"),
        (b'{"inputs": [{"a": 1, "b": [1]}]}', "b"),
        (b'{"inputs": [{"a": 1, "b": 2}, 5]}', "inputs[1]"),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', "inputs"),  # ragged columns
        (b'{"inputs": {"a": [1]}}', "b"),
        (b'{"inputs": {"a": [1], "b": ["x"]}}', "b"),
        (b'{"inputs": []}', "inputs"),
        (b'{"inputs": {"a": [], "b": []}}', "inputs"),
        (b'{"inputs": 3}', "inputs"),
        (b'{"rows": []}', "inputs"),
        (b"[1, 2]", "inputs"),
    ],
)
def test_refused_bodies_get_the_generic_error(body: bytes, field: str) -> None:
    spec = spec_of(("a", "b"))
    assert spec.native_body(body) is None
    with pytest.raises(SchemaValidationError) as err:
        native.parse(body, spec)
    assert err.value.field == field, err.value.message


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": [{"a": 1e400, "b": 1}]}',  # out of the float range
        b'{"inputs": [{"a": 1, "b": 2}',  # truncated
        b'{"inputs": [{"a": NaN, "b": 2}]}',  # not JSON
        b"",
        b"\xff\xfe",
        b"[" * 100_000,  # hostile nesting
    ],
)
def test_malformed_bodies_are_400(body: bytes) -> None:
    spec = spec_of(("a", "b"))
    assert spec.native_body(body) is None
    with pytest.raises(InvalidInputError) as err:
        native.parse(body, spec)
    assert err.value.field == "body" and err.value.http_status == 400


def test_too_many_rows_is_refused_by_both_paths() -> None:
    spec = spec_of(("a",))
    body = b'{"inputs": [' + b",".join([b'{"a": 1}'] * 100_001) + b"]}"
    assert spec.native_body(body) is None
    with pytest.raises(InvalidInputError, match="100001 rows"):
        native.parse(body, spec)


def test_names_the_typed_decoder_cannot_take_use_the_generic_path() -> None:
    spec = spec_of(('q"uote', "back\\slash"))
    body = orjson.dumps({"inputs": [{'q"uote': 1, "back\\slash": 2}]})
    assert spec.native_body(body) is None
    np.testing.assert_array_equal(native.parse(body, spec), [[1.0, 2.0]])


def test_non_numeric_signatures_take_the_generic_path() -> None:
    spec = InputSpec(("a", "color"), ("float64", "string"), "dataframe", 2)
    body = b'{"inputs": [{"a": 1, "color": "red"}]}'
    assert spec.native_body(body) is None
    frame = native.parse(body, spec)
    assert list(frame.columns) == ["a", "color"] and frame["color"].tolist() == ["red"]
