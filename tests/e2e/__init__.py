"""End-to-end tests: the real server (``modelplane serve``) driven over HTTP."""
