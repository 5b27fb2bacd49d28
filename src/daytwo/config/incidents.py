"""The ``incidents`` section of ``daytwo.yaml``, and which runbook an alert points to.

::

    incidents:
      runbooks_dir: ./runbooks            # your team's runbooks (relative: from this file's folder)
      runbook_base_url: https://wiki.example.com/runbooks   # names become <base>/<name>

Every alert daytwo sends names a runbook (docs/incidents.md): the rule's own ``runbook:`` (a
runbook name or an https URL), else the one its kind maps to in :data:`KIND_RUNBOOKS` (an SLO's
alerts: the SLO's ``runbook``, else the one its SLI type maps to). :func:`runbook_link` turns a
name into what the notification shows: ``<runbook_base_url>/<name>`` when a base URL is set,
else the command that prints it (``daytwo runbook show provider-down``). A test checks that the
shipped runbooks' ``alerts`` lists and this table agree.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: A runbook's name (its file is ``<name>.md``).
RUNBOOK_NAME = r"[a-z0-9][a-z0-9-]{0,63}"
#: What a rule's (or an SLO's) ``runbook`` may be: a runbook name or an https URL.
RunbookRef = Annotated[
    str, Field(min_length=1, max_length=512, pattern=rf"^({RUNBOOK_NAME}|https://\S+)$")
]

#: Alert kind → the shipped runbook it points to when the rule names none. SLO alerts are keyed
#: ``slo:<SLI type>``; ``drift``, ``model_changed`` and ``model_changed_canary`` are the drift
#: room's notifications.
KIND_RUNBOOKS: dict[str, str] = {
    "spend_per_hour": "cost-spike",
    "daily_cost": "cost-spike",
    "budget_threshold": "cost-spike",
    "unpriced_calls": "cost-spike",
    "budget_projection": "cost-spike",
    "spend_anomaly": "cost-spike",
    "reconciliation_gap": "cost-spike",
    "request_tokens": "agent-loop",
    "error_rate": "provider-down",
    "p95_latency": "provider-down",
    "p95_ttft": "provider-down",
    "fallback_rate": "provider-down",
    "slo:availability": "provider-down",
    "slo:latency": "provider-down",
    "slo:ttft": "provider-down",
    "slo:judge": "quality-regression",
    "slo:format": "quality-regression",
    "slo:refusal": "quality-regression",
    "slo:feedback": "quality-regression",
    "drift": "quality-regression",
    "model_changed": "silent-model-change",
    "model_changed_canary": "silent-model-change",
    "rollout_rollback": "failed-rollout",
    "rollout_waiting": "failed-rollout",
}


class IncidentsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A folder of runbooks in the shipped format; one named like a shipped runbook replaces it.
    runbooks_dir: str | None = Field(None, min_length=1)
    #: Where your runbooks are published: a name ``provider-down`` becomes
    #: ``<runbook_base_url>/provider-down`` in notifications and generated Prometheus rules.
    runbook_base_url: str | None = Field(None, max_length=400, pattern=r"^https://\S+$")


def runbook_link(ref: str, base_url: str | None = None) -> str:
    """What a notification shows for a runbook ``ref`` (a name or a URL)."""
    if "://" in ref:  # a URL (an SLO's runbook may be http://)
        return ref
    if base_url:
        return f"{base_url.rstrip('/')}/{ref}"
    return f"daytwo runbook show {ref}"


def default_runbook(kind: str, sli: str | None = None) -> str | None:
    """The shipped runbook an alert of ``kind`` (an SLO's: of SLI type ``sli``) points to."""
    if kind == "slo_burn" and sli is not None:
        return KIND_RUNBOOKS.get(f"slo:{sli}")
    return KIND_RUNBOOKS.get(kind)
