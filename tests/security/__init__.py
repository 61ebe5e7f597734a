"""Security tests: outgoing requests (SSRF), file names and archives, python steps."""
