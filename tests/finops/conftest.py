"""Fixtures shared with the alert tests: a loopback webhook receiver, the HMAC key, gateways."""

from tests.alerts.conftest import gateway_factory, hmac_key, receiver

__all__ = ["gateway_factory", "hmac_key", "receiver"]
