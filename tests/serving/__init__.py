"""Tests of the server layer: control plane routes, wire protocols."""
