"""The inference layer: what turns rows into predictions, usable without a server.

Model runtimes (``runtime``, ONNX Runtime acceleration in ``accel``), input specifications from
signatures (``inputs``), adaptive batching (``batching``), inference graphs and their steps
(``graph``, ``steps``), the live endpoints of a process with hot swap and fallback (``live``,
``manager``), the typed request and result of one prediction (``request``), prediction sinks
(``sinks``) and the instruments the serving metrics are made of (``metrics``). The server, batch
scoring, monitoring and pipelines all build on it; it never imports any of them.
"""
