"""Prometheus metrics of the online evaluators (the quality room), in the gateway's registry.

* ``daytwo_quality_checks_total{evaluator,result}``: verdicts made; ``result`` is ``pass``,
  ``fail``, ``measured`` (``length``) or ``skipped`` (a judge that could not judge: budget
  spent, judge unusable).
* ``daytwo_quality_score{evaluator}``: the 0..1 scores (a histogram; ``length`` left out),
  the value of OpenTelemetry's ``gen_ai.evaluation.score.value``.
* ``daytwo_quality_shed_total{stage}``: work shed under overload -- ``queue`` (a call whose
  checks did not fit the queue), ``judge`` (a sampled judge call over ``max_inflight``).

``evaluator`` comes from the config (check names, ``judge:<name>``) and still passes a label
guard.
"""

from __future__ import annotations

from daytwo.telemetry.labels import LabelGuard
from daytwo.telemetry.metrics import Metrics, _counter, _histogram, _WithoutCreated

SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SHED_STAGES = ("queue", "judge")


class EvaluationMetrics:
    """The quality room's counters, registered in ``metrics``' registry."""

    def __init__(self, metrics: Metrics) -> None:
        self._evaluator = LabelGuard(metrics.config.max_label_values)
        self._checks = _counter(
            "daytwo_quality_checks",
            "Online evaluator verdicts, by evaluator and result (pass, fail, measured, skipped).",
            ("evaluator", "result"),
        )
        self._score = _histogram(
            "daytwo_quality_score",
            "Online evaluator scores, 0..1 (OpenTelemetry gen_ai.evaluation.score.value).",
            ("evaluator",),
            SCORE_BUCKETS,
        )
        self._shed = _counter(
            "daytwo_quality_shed",
            "Evaluation work shed under overload: queue (a call's checks), judge (a judge call).",
            ("stage",),
        )
        for stage in SHED_STAGES:  # exported as 0 before the first shed
            self._shed((stage,))
        metrics.registry.register(
            _WithoutCreated(m.metric for m in (self._checks, self._score, self._shed))
        )

    def verdict(self, evaluator: str, result: str, value: float | None) -> None:
        name = self._evaluator(evaluator)
        self._checks((name, result)).inc()
        if value is not None and result in ("pass", "fail"):
            self._score((name,)).observe(value)

    def shed(self, stage: str) -> None:
        self._shed((stage,)).inc()
