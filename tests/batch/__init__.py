"""Tests of batch scoring."""
