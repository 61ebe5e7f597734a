"""Append-only, hash-chained audit log of every mutating operation."""

from modelplane.audit.log import AuditEntry, AuditLog, VerifyResult

__all__ = ["AuditEntry", "AuditLog", "VerifyResult"]
