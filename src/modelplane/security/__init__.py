"""Security services below the server: API tokens (:mod:`modelplane.security.tokens`)."""
