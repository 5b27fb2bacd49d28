"""The quality room: what online evaluators and the applications' feedback say about the
answers, per model, prompt version and workflow.

Online evaluators run on finished calls after their answer went out. Cheap checks (refusal,
format, truncation, tool-call validity, language, leak, length) are pure functions over the call's
request and answer (:mod:`daytwo.quality.checks`); the :class:`~daytwo.quality.room.QualityRoom`
runs them, and sampled LLM judges, off the response path in a bounded queue that sheds (and
counts) work under overload, and hands the resulting :class:`~daytwo.core.score.ScoreRecord`
rows to the ledger writer. :mod:`daytwo.quality.report` turns the ledger's scores into rates
against the previous window (``daytwo quality``). The room sits below the gateway (which wires
it as a call observer) and above ``core``, ``config``, ``prompts``, ``stats`` and
``telemetry``; ``evals`` imports its checks. ``docs/quality.md`` is the user's reference.
"""
