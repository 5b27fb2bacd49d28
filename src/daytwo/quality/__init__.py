"""Quality in production: what the online evaluators and the applications' feedback say about
the answers, per model, prompt version and workflow (docs/quality.md)."""
