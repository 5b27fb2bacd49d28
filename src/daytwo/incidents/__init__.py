"""Incident response (docs/incidents.md): runbooks, triage, replay, the incident record."""
