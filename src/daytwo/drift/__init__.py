"""Changes nobody made: a deployment that starts serving another model or fingerprint
(``model_changed``), and quality that drifts from its trailing baseline.

::

    changes.py   the model watch: a call observer (O(1), no I/O), seeded from the ledger,
                 one report per change across replicas (a Redis compare-and-set)
    detect.py    rates (two-proportion test + Bernoulli CUSUM) and distributions (KS +
                 bootstrap) against the baseline -- pure, over daytwo.stats
    scores.py    the ledger reads: a window's scores joined to their calls, baseline counts
    context.py   what else changed then: prompt versions first seen, model changes, config
    monitor.py   find_drift: one evaluation, a Finding per group with its sentence
    announce.py  notifications through the alerting room's sinks, delivery and history
    service.py   DriftService beside the gateway (Gateway.add_service), wired by attach()

A room above ``gateway``, ``alerts``, ``ledger``, ``keys`` and ``stats``; ``admin.mount``
(what ``daytwo serve`` runs) attaches it. See docs/drift.md.
"""
