"""The remote client: ``mp.Client(url, token=None)`` does what the SDK does, over HTTP.

It speaks the control-plane API (``/api/v1``) of a modelplane server and never imports the server
side (``modelplane.serving``, FastAPI): only httpx, plus pandas and the model's library when a
call needs them.
"""

from __future__ import annotations

from modelplane.client.client import Client
from modelplane.client.run import RemoteRun

__all__ = ["Client", "RemoteRun"]
