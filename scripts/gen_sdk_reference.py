"""Write ``docs/sdk.md``, the Python SDK reference, from the public surface's docstrings.

The surface is ``modelplane.__all__``: for each name, its signature (``inspect.signature``) and
its docstring. Functions come first, then classes (with their public methods), then errors.
A test regenerates the text in memory and fails when ``docs/sdk.md`` is out of date.

    python scripts/gen_sdk_reference.py           # write docs/sdk.md
    python scripts/gen_sdk_reference.py --check   # exit 1 if docs/sdk.md is out of date
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "sdk.md"
COMMAND = "python scripts/gen_sdk_reference.py"

HEADER = f"""# Python SDK reference

`import modelplane as mp` — every public name of the package, with its signature and
documentation. This page is generated from the docstrings by `{COMMAND}`; edit the
docstrings, not this page. A narrative introduction is in [the quickstart](quickstart.md).
"""


def _doc(obj: Any) -> str:
    """The object's own docstring (not one inherited from a base class), cleaned."""
    own = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    return inspect.cleandoc(own) if isinstance(own, str) and own.strip() else ""


class _Raw:
    """An annotation kept as written (``str``, not ``'str'``) when a signature is printed."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _raw(annotation: Any) -> Any:
    return _Raw(annotation) if isinstance(annotation, str) else annotation


def _signature(obj: Callable[..., Any], *, method: bool = False) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature
        return "(...)"
    params = [p.replace(annotation=_raw(p.annotation)) for p in sig.parameters.values()]
    if method and params and params[0].name == "self":
        params = params[1:]
    sig = sig.replace(parameters=params, return_annotation=_raw(sig.return_annotation))
    return str(sig)


def _is_error(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Exception)


def _methods(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined on ``cls`` itself, in source order."""
    found = []
    for name, member in cls.__dict__.items():
        if name.startswith("_"):
            continue
        function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
        if inspect.isfunction(function) or isinstance(function, property):
            found.append((name, function))
    return found


def _function(lines: list[str], title: str, obj: Any, level: str = "###") -> None:
    lines += [f"{level} `{title}{_signature(obj)}`", ""]
    doc = _doc(obj)
    lines += [doc, ""] if doc else ["*(undocumented)*", ""]


def _class(lines: list[str], name: str, cls: type) -> None:
    init = cls.__dict__.get("__init__")
    signature = ""
    if inspect.isfunction(init) and not init.__name__.startswith("_no_init"):
        signature = _signature(init, method=True).removesuffix(" -> None")
    lines += [f"### `mp.{name}{signature}`", ""]
    doc = _doc(cls)
    lines += [doc, ""] if doc else ["*(undocumented)*", ""]
    for method_name, member in _methods(cls):
        if isinstance(member, property):
            lines += [f"#### `{name}.{method_name}` (property)", ""]
            doc = _doc(member.fget) if member.fget is not None else ""
            lines += [doc, ""] if doc else []
            continue
        signature = _signature(member, method=True)
        lines += [f"#### `{name}.{method_name}{signature}`", ""]
        doc = _doc(member)
        lines += [doc, ""] if doc else []


def render() -> str:
    """The text of ``docs/sdk.md`` for the installed ``modelplane``."""
    import modelplane as mp

    names = sorted(n for n in mp.__all__ if not n.startswith("_"))
    objects = {name: getattr(mp, name) for name in names}
    functions = [n for n in names if inspect.isfunction(objects[n])]
    errors = [n for n in names if _is_error(objects[n])]
    classes = [n for n in names if isinstance(objects[n], type) and n not in errors]
    other = [n for n in names if n not in {*functions, *errors, *classes}]

    lines = [HEADER, f"Version {mp.__version__}.", ""]
    lines += ["## Functions", ""]
    for name in functions:
        _function(lines, f"mp.{name}", objects[name])
    lines += ["## Classes", ""]
    for name in classes:
        _class(lines, name, objects[name])
    lines += ["## Errors", ""]
    lines += [
        "Every error derives from `mp.ModelplaneError`; each carries `message`, `field` (the",
        "parameter at fault, when known) and `code`, and maps to an HTTP status and a CLI exit",
        "status.",
        "",
    ]
    for name in errors:
        cls = objects[name]
        lines += [f"### `mp.{name}`", ""]
        facts = f"code `{cls.code}`, HTTP {cls.http_status}, exit status {cls.exit_code}"
        doc = _doc(cls)
        lines += [f"{doc}\n\n{facts[0].upper()}{facts[1:]}." if doc else f"{facts}.", ""]
    for name in other:
        lines += [f"### `mp.{name}`", "", f"`{objects[name]!r}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
