"""Service-level objectives: SLIs counted from the ledger (calls and scores), error budgets
and multiwindow burn-rate evaluation (the arithmetic is :mod:`daytwo.stats.burn`'s).

* :mod:`~daytwo.slo.policy` -- an SLO's burn-rate policy and the windows it needs;
* :mod:`~daytwo.slo.sli` -- good and total events per window, one query per SLO;
* :mod:`~daytwo.slo.status` -- what an SLO stands at: SLI, budget left, burn rates, alerts.

The room imports ``core``, ``config``, ``ledger`` and ``stats``; ``alerts`` (the ``slo_burn``
alerts), ``admin``, ``evals`` (the gate's error-budget check) and ``cli`` import it. See
docs/slos.md.
"""
