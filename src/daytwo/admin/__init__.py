"""The control plane's HTTP surface: the ``/admin/`` API on FastAPI, beside the raw data plane.

This room sits *above* the gateway: it imports :mod:`daytwo.gateway` (the running
:class:`~daytwo.gateway.app.Gateway`, its key store, spend control and runtime) and the gateway
never imports it. :func:`daytwo.admin.mount.create_app` composes the two: it builds the gateway
and mounts the admin app on it (built on the first admin request), so the data plane keeps
routing LLM calls on the raw path without any framework in the way, and hands every
``/admin/`` path to the app built here.

Routes, request validation (pydantic models), role checks (a FastAPI dependency per route) and
the OpenAPI document come from one declaration per route (:mod:`daytwo.admin.declare`).
"""
