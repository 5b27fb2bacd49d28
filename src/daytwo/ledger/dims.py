"""The reporting dimensions, in a module light enough for the CLI to import without SQLAlchemy."""

#: Reporting dimensions kept in ``rollup_hourly`` (``total`` is the whole traffic).
HOURLY_DIMS = (
    "total",
    "project",
    "workflow",
    "feature",
    "agent",
    "environment",
    "key",
    "provider",
    "model",
    "prompt",  # the prompt's name
    "prompt_version",  # NAME@vN
)
#: Every dimension a spend report can group by.
REPORT_DIMS = (
    "project",
    "workflow",
    "model",
    "provider",
    "feature",
    "user",
    "key",
    "agent",
    "environment",
    "prompt",
    "prompt_version",
)
#: Dimensions a quality report (``daytwo quality``) can group by: read from ``calls`` joined
#: to ``scores``, not from rollups. ``model``: served model, else the alias; ``alias``: the
#: name asked for; ``prompt_version``: ``NAME@vN``.
QUALITY_DIMS = (
    "model",
    "alias",
    "provider",
    "prompt",
    "prompt_version",
    "workflow",
    "project",
    "feature",
    "agent",
    "environment",
    "key",
)
