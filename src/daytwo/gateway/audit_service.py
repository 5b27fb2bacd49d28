"""The gateway's side of the audit trail (docs/audit.md): the ledger's batch hook (this
replica's call chain, with the capture preparer), and a background task that signs digests at
``audit.digest_interval_s``, enforces retention every ``audit.retention.check_interval_s`` and
keeps config checkpoints; at shutdown, after the ledger has stored its last call, one more
digest per stream.

The signing key is ``audit.signing_key`` (a reference); without one, a key generated once and
kept beside the SQLite ledger (or in the working directory) signs, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from daytwo.audit.capture import Preparer
from daytwo.audit.digest import Signer, local_key_path, local_signer
from daytwo.audit.keeper import Keeper
from daytwo.audit.vault import Vault
from daytwo.audit.writer import CallTrail, default_replica
from daytwo.config.audit import AuditConfig
from daytwo.config.schema import Config
from daytwo.core.errors import DaytwoError
from daytwo.core.redact import Redactor
from daytwo.core.secrets import SecretRegistry
from daytwo.ledger.store import LedgerStore, open_store

log = logging.getLogger("daytwo.audit")


class AuditService:
    def __init__(self, config: Config, secrets: SecretRegistry) -> None:
        self.config = config
        self._secrets = secrets
        self.trail: CallTrail | None = None
        self.keeper: Keeper | None = None
        self._store: LedgerStore | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.config.audit.enabled

    def preparer(self, audit: AuditConfig) -> Preparer:
        red = audit.redaction
        vault = None
        if red.reversible_key is not None:
            vault = Vault.from_secret(self._secrets.resolve(red.reversible_key))
        redactor = Redactor(
            red.detectors,
            patterns=[(p.name, p.regex) for p in red.patterns],
            secrets=self._secrets,
            reversible=vault is not None,
        )
        return Preparer(redactor, vault)

    # -- start (in a thread) --------------------------------------------------------------

    def hook(self, store: LedgerStore) -> CallTrail | None:
        """The ledger's batch hook (``Ledger.open(hook=...)``): claims this replica's stream."""
        if not self.enabled:
            return None
        audit = self.config.audit
        trail = CallTrail(
            store, self.preparer(audit), replica=audit.replica_id or default_replica()
        )
        trail.open()
        self.trail = trail
        return trail

    def open_keeper(self, config_hash: str, config_text: str) -> None:
        if not self.enabled or self.trail is None:
            return
        url = self.config.ledger.url
        self._store = open_store(url)
        signer = self._signer(self._store)
        trail = self.trail
        self.keeper = Keeper(
            self._store, signer, lambda: self.config.audit, stream=lambda: trail.stream
        )
        self.keeper.checkpoint(config_hash, config_text)
        log.info(
            "audit trail on: stream %s, digests signed by key %s every %.0fs",
            trail.stream,
            signer.key_id,
            self.config.audit.digest_interval_s,
        )

    def _signer(self, store: LedgerStore) -> Signer:
        ref = self.config.audit.signing_key
        if ref is not None:
            return Signer.from_text(self._secrets.resolve(ref))
        return local_signer(local_key_path(store))

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.keeper is not None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        keeper = self.keeper
        assert keeper is not None
        start = time.monotonic()
        next_seal, next_retain = start + self.config.audit.digest_interval_s, start
        while True:
            audit = self.config.audit
            now = time.monotonic()
            try:
                if now >= next_retain:
                    next_retain = now + audit.retention.check_interval_s
                    await asyncio.to_thread(keeper.retain)
                if now >= next_seal:
                    next_seal = now + audit.digest_interval_s
                    await asyncio.to_thread(keeper.seal)
            except DaytwoError as exc:
                log.error(f"audit keeper: {exc.message}")
            except Exception:
                log.exception("audit keeper failed; retrying at the next interval")
            await asyncio.sleep(max(0.05, min(next_seal, next_retain) - time.monotonic()))

    async def reload(self, config: Config, config_hash: str, config_text: str) -> None:
        old = self.config
        self.config = config
        if (
            config.audit.enabled != old.audit.enabled
            or config.audit.replica_id != old.audit.replica_id
        ):
            log.warning(
                "config `audit.enabled` / `audit.replica_id` changed: "
                "takes effect at the next restart"
            )
        if self.trail is not None and config.audit.redaction != old.audit.redaction:
            try:
                self.trail.preparer = self.preparer(config.audit)
            except (ValueError, DaytwoError) as exc:
                log.error(f"audit redaction settings refused; the previous ones stay: {exc}")
        if config.audit.signing_key != old.audit.signing_key and self.keeper is not None:
            assert self._store is not None
            self.keeper.signer = self._signer(self._store)
        if self.keeper is not None:
            await asyncio.to_thread(self.keeper.checkpoint, config_hash, config_text)

    async def stop(self) -> None:
        """Stop the background task (before the ledger closes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def close(self) -> None:
        """After the ledger closed: the shutdown digests, then the keeper's connection."""
        if self.keeper is not None:
            try:
                self.keeper.seal(final=True)
            except Exception:
                log.exception("audit: the shutdown digest could not be written")
        if self._store is not None:
            self._store.close()
            self._store = None
