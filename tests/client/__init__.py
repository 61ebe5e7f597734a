"""Tests of the remote client (mp.Client) against the control-plane API."""
