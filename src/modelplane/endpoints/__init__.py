"""Endpoints: named deployments (which model URIs serve, through which graph, with which limits)."""
