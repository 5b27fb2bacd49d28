"""The gateway: the ASGI app, ingress/egress per wire format, and the one pipeline every call takes."""
