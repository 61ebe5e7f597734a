"""Functions the python-step tests name (``tests.security.step_funcs:NAME``).

The module also re-exports dangerous functions and a module on purpose: an admin allowing this
module must not thereby allow ``step_funcs:getoutput`` or ``step_funcs:os.system``.
"""

from __future__ import annotations

import os  # noqa: F401  (reachable as step_funcs:os.system — must stay refused)
from builtins import eval  # noqa: F401
from pickle import loads  # noqa: F401
from subprocess import getoutput  # noqa: F401

import pandas as pd


def shift_a(frame: pd.DataFrame) -> pd.DataFrame:
    """Preprocess: column ``a`` plus one."""
    return frame.assign(a=frame["a"] + 1)


def shout(prediction: dict[str, object]) -> dict[str, object]:
    """Postprocess: labels as text, prefixed."""
    outputs = prediction["outputs"]
    assert isinstance(outputs, list)
    return {"outputs": [f"class-{v}" for v in outputs], "probabilities": None}
