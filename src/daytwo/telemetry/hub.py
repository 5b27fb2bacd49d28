"""The configured telemetry of one gateway process. The OpenTelemetry SDK is imported only when
traces are on (it adds ~10 MB and a tenth of a second to a gateway that does not trace)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daytwo.config.audit import RedactionConfig
from daytwo.config.telemetry import TelemetryConfig
from daytwo.core.observe import CallObserver
from daytwo.core.secrets import SecretRegistry

if TYPE_CHECKING:
    from daytwo.telemetry.metrics import Metrics
    from daytwo.telemetry.tracing import Tracing


class Telemetry:
    """The configured metrics and traces of one gateway process."""

    def __init__(
        self,
        cfg: TelemetryConfig,
        secrets: SecretRegistry,
        redaction: RedactionConfig | None = None,
    ) -> None:
        self.config = cfg
        self.metrics: Metrics | None = None
        self.tracing: Tracing | None = None
        if cfg.metrics.enabled:
            from daytwo.telemetry.metrics import Metrics

            self.metrics = Metrics(cfg.metrics)
        if cfg.traces.enabled:
            from daytwo.telemetry.tracing import Tracing

            self.tracing = Tracing(cfg.traces, secrets, redaction=redaction)

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
