"""The gateway: the ASGI app, ingress and egress per wire format, and the one pipeline."""
