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
                    Newcombe's interval of the difference, pooled z-test), enough_events
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
    two_proportion_test,
    wilson_interval,
    wilson_lower,
    wilson_upper,
)

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
