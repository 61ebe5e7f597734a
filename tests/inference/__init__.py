"""Tests of the inference layer: inputs, batching, graphs."""
