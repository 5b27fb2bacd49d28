"""Statistics for deciding whether something changed beyond noise: two versions on the same
items (paired tests, bootstrap intervals, the smallest effect a sample can see), a rate or a
distribution against its baseline (two-proportion tests, CUSUM, KS, unpaired bootstrap), and
SLO error budgets with burn-rate alerts.

One module, written once: the eval compare and gate use it; online drift, quality SLOs and
canary rollouts reuse it (a Wilson lower bound instead of a sampled point estimate, candidate vs
control with a non-inferiority margin). Pure functions over numbers, numpy-vectorised, scipy
where scipy does the job. Imports nothing of daytwo but ``core``. Formulas, assumptions and
references: docs/statistics.md.

::

    interval.py     Interval (low, high, estimate), noninferior() (the gate's "not worse beyond δ")
    proportions.py  wilson_interval (and its lower/upper bound): a proportion's interval, sound
                    at small n and near 0 or 1; two_proportion_test (independent samples:
                    Newcombe's interval of the difference, pooled z-test), enough_events;
                    paired_difference_interval (two rates of the same pairs: Tango's score
                    interval, e.g. a pairwise judge's losses minus wins)
    paired.py       mcnemar_exact (paired pass/fail), wilcoxon_signed_rank (paired scores)
    bootstrap.py    paired_bootstrap (items resampled, pairs kept together), quantile,
                    paired_quantile_difference(s) (latency p50/p95); unpaired_bootstrap,
                    unpaired_quantile_differences (independent samples: drift's windows)
    power.py        minimal detectable effects at a sample size (normal approximation)
    drift.py        cusum (tabular, standardized), bernoulli_cusum (a rate's slow creep, per
                    call or per batch), siegmund_arl and bernoulli_arl (how k and h set the
                    run lengths), ks_two_sample (a distribution against its baseline)
    burn.py         error budgets, burn rates, budget consumed, time to exhaustion; the SRE
                    workbook's multiwindow multi-burn-rate policy and evaluate_burn
                    (sampling-aware: minimum events, Wilson lower bound)
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daytwo.stats.bootstrap import (
        paired_bootstrap,
        paired_quantile_difference,
        paired_quantile_differences,
        quantile,
        unpaired_bootstrap,
        unpaired_quantile_differences,
    )
    from daytwo.stats.burn import (
        WORKBOOK_PERIOD,
        AlertCheck,
        BurnAlert,
        BurnEvaluation,
        BurnPolicy,
        Severity,
        WindowBurn,
        budget_consumed,
        budget_remaining,
        burn_rate,
        error_budget,
        evaluate_burn,
        time_to_exhaustion,
        workbook_policy,
    )
    from daytwo.stats.drift import (
        CusumResult,
        KsTest,
        bernoulli_arl,
        bernoulli_cusum,
        bernoulli_k,
        cusum,
        ks_two_sample,
        siegmund_arl,
    )
    from daytwo.stats.interval import Interval, noninferior
    from daytwo.stats.paired import mcnemar_exact, wilcoxon_signed_rank
    from daytwo.stats.power import detectable_effect, mde_paired_mean, mde_paired_proportion
    from daytwo.stats.proportions import (
        TwoProportionTest,
        enough_events,
        newcombe_interval,
        paired_difference_interval,
        two_proportion_test,
        wilson_interval,
        wilson_lower,
        wilson_upper,
    )

#: Where each name lives: the package loads a module on first use (PEP 562), so a caller of
#: the Wilson bound or the burn arithmetic does not pay for scipy.stats (~0.5 s, ~40 MB).
_WHERE = {
    "AlertCheck": "burn",
    "BurnAlert": "burn",
    "BurnEvaluation": "burn",
    "BurnPolicy": "burn",
    "CusumResult": "drift",
    "Interval": "interval",
    "KsTest": "drift",
    "Severity": "burn",
    "TwoProportionTest": "proportions",
    "WORKBOOK_PERIOD": "burn",
    "WindowBurn": "burn",
    "bernoulli_arl": "drift",
    "bernoulli_cusum": "drift",
    "bernoulli_k": "drift",
    "budget_consumed": "burn",
    "budget_remaining": "burn",
    "burn_rate": "burn",
    "cusum": "drift",
    "detectable_effect": "power",
    "enough_events": "proportions",
    "error_budget": "burn",
    "evaluate_burn": "burn",
    "ks_two_sample": "drift",
    "mcnemar_exact": "paired",
    "mde_paired_mean": "power",
    "mde_paired_proportion": "power",
    "newcombe_interval": "proportions",
    "noninferior": "interval",
    "paired_bootstrap": "bootstrap",
    "paired_difference_interval": "proportions",
    "paired_quantile_difference": "bootstrap",
    "paired_quantile_differences": "bootstrap",
    "quantile": "bootstrap",
    "siegmund_arl": "drift",
    "time_to_exhaustion": "burn",
    "two_proportion_test": "proportions",
    "unpaired_bootstrap": "bootstrap",
    "unpaired_quantile_differences": "bootstrap",
    "wilcoxon_signed_rank": "paired",
    "wilson_interval": "proportions",
    "wilson_lower": "proportions",
    "wilson_upper": "proportions",
    "workbook_policy": "burn",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'daytwo.stats' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"daytwo.stats.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "WORKBOOK_PERIOD",
    "AlertCheck",
    "BurnAlert",
    "BurnEvaluation",
    "BurnPolicy",
    "CusumResult",
    "Interval",
    "KsTest",
    "Severity",
    "TwoProportionTest",
    "WindowBurn",
    "bernoulli_arl",
    "bernoulli_cusum",
    "bernoulli_k",
    "budget_consumed",
    "budget_remaining",
    "burn_rate",
    "cusum",
    "detectable_effect",
    "enough_events",
    "error_budget",
    "evaluate_burn",
    "ks_two_sample",
    "mcnemar_exact",
    "mde_paired_mean",
    "mde_paired_proportion",
    "newcombe_interval",
    "noninferior",
    "paired_bootstrap",
    "paired_difference_interval",
    "paired_quantile_difference",
    "paired_quantile_differences",
    "quantile",
    "siegmund_arl",
    "time_to_exhaustion",
    "two_proportion_test",
    "unpaired_bootstrap",
    "unpaired_quantile_differences",
    "wilcoxon_signed_rank",
    "wilson_interval",
    "wilson_lower",
    "wilson_upper",
    "workbook_policy",
]
