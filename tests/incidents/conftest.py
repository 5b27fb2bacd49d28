"""Incident test fixtures: the alert tests' loopback webhook receiver, HMAC key and gateways."""

from __future__ import annotations

from tests.alerts.conftest import gateway_factory, hmac_key, receiver  # noqa: F401
