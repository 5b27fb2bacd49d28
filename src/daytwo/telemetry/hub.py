"""The configured telemetry of one gateway process."""

from __future__ import annotations

from daytwo.config.telemetry import TelemetryConfig
from daytwo.core.observe import CallObserver
from daytwo.core.secrets import SecretRegistry
from daytwo.telemetry.metrics import Metrics
from daytwo.telemetry.tracing import Tracing


class Telemetry:
    """The configured metrics and traces of one gateway process."""

    def __init__(self, cfg: TelemetryConfig, secrets: SecretRegistry) -> None:
        self.config = cfg
        self.metrics = Metrics(cfg.metrics) if cfg.metrics.enabled else None
        self.tracing = Tracing(cfg.traces, secrets) if cfg.traces.enabled else None

    def observers(self) -> tuple[CallObserver, ...]:
        out: list[CallObserver] = []
        if self.metrics is not None:
            out.append(self.metrics.observe)
        if self.tracing is not None:
            out.append(self.tracing.observe)
        return tuple(out)

    def shutdown(self) -> None:
        """Flush and stop the span exporter (graceful shutdown)."""
        if self.tracing is not None:
            self.tracing.shutdown()
