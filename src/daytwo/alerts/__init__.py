"""Alerting: rules over the ledger, the calls and spend control's events, and notifications to
webhooks, Slack, PagerDuty, email and the log.

* :mod:`~daytwo.alerts.engine` -- the gateway's engine: evaluates, moves alerts through their
  states, notifies, records (built by ``gateway/app.py``, a call observer);
* :mod:`~daytwo.alerts.machine` -- one alert's states (pending, firing, resolved; dedup and
  cooldown), pure;
* :mod:`~daytwo.alerts.evaluate` -- the windowed rules' SQL over ``calls``;
  :mod:`~daytwo.alerts.crossings` -- budget threshold events from the admin event log;
* :mod:`~daytwo.alerts.slo_burn` -- SLO burn-rate alerts (``slo_burn``) derived from the
  ``slos`` section, evaluated with :mod:`daytwo.slo`;
* :mod:`~daytwo.alerts.lease` -- which replica evaluates (a Redis lease);
* :mod:`~daytwo.alerts.notify` -- notifications and each sink's payload (the webhook
  signature), pure; :mod:`~daytwo.alerts.sinks` -- the sinks' I/O;
  :mod:`~daytwo.alerts.ssrf` -- deliveries to public addresses only;
  :mod:`~daytwo.alerts.delivery` -- retries with backoff, off the request path;
* :mod:`~daytwo.alerts.history` / :mod:`~daytwo.alerts.schema` -- the ``alert_events`` table.

The room imports ``config``, ``core``, ``ledger``, ``keys`` (the admin event log's table),
``control`` (kill switches for ``action: trip``, budget windows) and ``slo`` (SLO status);
``gateway``, ``cli`` and ``demo`` import it. See docs/alerting.md.
"""
