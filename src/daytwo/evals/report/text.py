"""What the reports print, before each format escapes it: user text (case ids, answers,
reasons) without the characters XML 1.0 cannot hold (they have no business in a page or a
comment either), long text shortened, and a compared metric's cells."""

from __future__ import annotations

import re

from daytwo.evals.model import MetricComparison
from daytwo.evals.report.fmt import fmt_ci, fmt_delta, fmt_p, fmt_value

#: C0 controls but tab/newline/CR, lone surrogates, U+FFFE/U+FFFF: what XML 1.0 cannot carry.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: The longest reason quoted in a summary (the HTML report has the whole text).
REASON_CHARS = 200


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids."""
    return _ILLEGAL.sub("", text)


def shorten(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def metric_row(m: MetricComparison) -> tuple[str, str, str, str, str, str, str]:
    """metric, baseline, candidate, delta, 95% CI, p, verdict."""
    return (
        m.metric,
        fmt_value(m, m.baseline),
        fmt_value(m, m.candidate),
        fmt_delta(m),
        fmt_ci(m),
        fmt_p(m.p_value),
        m.verdict,
    )
