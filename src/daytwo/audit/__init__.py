"""The audit trail: what was captured of each call, redacted, and who looked at it."""
