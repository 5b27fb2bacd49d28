"""Evals: suites of test cases run through daytwo's own gateway, graded by assertions and
judges, compared with paired statistics, and the deploy gate built on them (docs/evals.md)."""
