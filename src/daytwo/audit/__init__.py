"""The audit trail (docs/audit.md): every call and every admin or config change as a
hash-chained entry per stream, signed digests over the chains, captured call content (redacted
or full, per project and workflow) with retention, and the tools that verify, show, search and
export them."""
