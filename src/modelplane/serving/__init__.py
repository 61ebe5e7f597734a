"""The server layer: the ASGI app (data plane fast path + FastAPI), wire protocols, the
``/api/v1`` control plane, permissions, error mapping and metrics exposition. Everything that
computes predictions lives below, in :mod:`modelplane.inference`."""
