# The two quickstart commands: `make demo` and `make test`. Each creates .venv itself.
.PHONY: venv demo test lint bench

venv:
	@scripts/bootstrap

demo: venv
	.venv/bin/daytwo demo

test: venv
	scripts/test

lint: venv
	.venv/bin/ruff check src tests bench examples
	.venv/bin/ruff format --check src tests bench examples
	.venv/bin/mypy

bench: venv
	.venv/bin/python bench/gateway_overhead.py
