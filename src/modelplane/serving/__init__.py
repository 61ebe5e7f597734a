"""Serving: the inference server (data plane + control plane), batching, hot swap, graphs."""
