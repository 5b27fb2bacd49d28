"""Telemetry: structured logs (here), Prometheus metrics and OpenTelemetry spans (later)."""
