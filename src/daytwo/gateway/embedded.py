"""A gateway served inside the calling process, for daytwo's own commands that need the real
pipeline without a separate ``daytwo serve``: the outage drill and ``daytwo eval run``.

The caller builds the :class:`~daytwo.gateway.app.Gateway` (with or without the admin API) from
a validated config; this module serves it on a free loopback port and, when the config requires
virtual keys, issues the caller a temporary key before the gateway loads its key snapshot and
revokes it afterwards (it also expires on its own, should the process be killed). Either way the
caller talks to the gateway over HTTP like any client: admission, budgets and the ledger apply.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace

from daytwo.gateway.app import Gateway
from daytwo.keys.model import KeySpec

#: How long a temporary key outlives its planned use, should the process be killed.
KEY_GRACE_S = 600.0


class EmbeddedFailed(RuntimeError):
    """The embedded gateway could not be set up: it did not start, or the key store (for a
    temporary key) cannot be reached."""


@dataclass(frozen=True, slots=True)
class Embedded:
    """A gateway serving in this process."""

    gateway: Gateway
    url: str
    #: Sent with every request: a temporary key's bearer header when keys are required.
    headers: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def serving(app: Gateway) -> Iterator[str]:
    """``app`` served on a free loopback port (its base URL), stopped afterwards."""
    from daytwo.gateway.server import serve_in_thread

    try:
        handle = serve_in_thread(app)
    except RuntimeError as exc:
        raise EmbeddedFailed(f"the gateway did not start: {exc}") from exc
    try:
        yield handle.url
    finally:
        handle.stop()


@contextmanager
def temporary_key(ledger_url: str, spec: KeySpec, *, actor: str, lasts_s: float) -> Iterator[str]:
    """A virtual key as ``spec`` asks (its attribution binds the calls made with it), expiring
    ``lasts_s`` + :data:`KEY_GRACE_S` from now and revoked when the block ends."""
    from daytwo.core.errors import DaytwoError
    from daytwo.keys.hashing import pepper_from_env
    from daytwo.keys.store import KeyStore

    try:
        store = KeyStore.open(ledger_url, pepper=pepper_from_env())
    except DaytwoError as exc:
        raise EmbeddedFailed(
            f"cannot open the key store for a temporary key: {exc.message}"
        ) from exc
    try:
        issued = store.create(
            replace(spec, expires_at=time.time() + lasts_s + KEY_GRACE_S), actor=actor
        )
        try:
            yield issued.secret
        finally:
            store.revoke(issued.record.id, actor=actor)
    finally:
        store.close()


@contextmanager
def embedded(
    app: Gateway,
    *,
    project: str,
    workflow: str | None,
    description: str,
    actor: str,
    lasts_s: float,
) -> Iterator[Embedded]:
    """``app`` serving. When its config requires keys, the caller gets a temporary key whose
    attribution (``project``, ``workflow``) binds its calls; ``actor`` is who the admin event
    log names, ``lasts_s`` how long the caller plans to use the key."""
    cfg = app.config
    with ExitStack() as stack:
        headers: dict[str, str] = {}
        if cfg.gateway.require_keys:
            spec = KeySpec(project=project, workflow=workflow, description=description)
            secret = stack.enter_context(
                temporary_key(cfg.ledger.url, spec, actor=actor, lasts_s=lasts_s)
            )
            headers["authorization"] = f"Bearer {secret}"
        url = stack.enter_context(serving(app))
        yield Embedded(app, url, headers)
