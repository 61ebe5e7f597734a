"""Tests of the serving layer: runtimes, inference graphs, batch scoring."""
