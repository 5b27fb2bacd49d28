"""The ``daytwo`` command. Subcommands live in their own modules and import lazily, so
``daytwo --help`` and quick commands stay fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

#: subcommand name → "module:attribute" of its click command
COMMANDS = {
    "serve": "daytwo.cli.serve:serve",
    "spend": "daytwo.cli.spend:spend",
    "forecast": "daytwo.cli.forecast:forecast",
    "reconcile": "daytwo.cli.reconcile:reconcile",
    "sim": "daytwo.cli.sim:sim",
    "demo": "daytwo.cli.demo:demo",
    "init": "daytwo.cli.init:init",
    "config": "daytwo.cli.config_cmd:config",
    "pricing": "daytwo.cli.pricing:pricing",
    "models": "daytwo.cli.models:models",
    "keys": "daytwo.cli.keys:keys",
    "admin": "daytwo.cli.admin:admin",
    "kill": "daytwo.cli.switches:kill",
    "degrade": "daytwo.cli.switches:degrade",
    "revive": "daytwo.cli.switches:revive",
    "providers": "daytwo.cli.providers:providers",
    "drill": "daytwo.cli.drill:drill",
    "alerts": "daytwo.cli.alerts:alerts",
    "prompts": "daytwo.cli.prompts:prompts",
    "eval": "daytwo.cli.evals:eval_",
    "gate": "daytwo.cli.gate:gate",
    "quality": "daytwo.cli.quality:quality",
    "slo": "daytwo.cli.slo:slo",
    "drift": "daytwo.cli.drift_cmd:drift",
    "audit": "daytwo.cli.audit:audit",
    "replay": "daytwo.cli.replay_cmd:replay",
    "triage": "daytwo.cli.triage:triage",
    "runbook": "daytwo.cli.runbook:runbook",
    "incident": "daytwo.cli.incident:incident",
    "rollout": "daytwo.cli.rollout:rollout",
    "recommend": "daytwo.cli.recommend:recommend",
    "optimize": "daytwo.cli.optimize:optimize",
    "report": "daytwo.cli.report:report",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        cmd: Any = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup)
@click.version_option(package_name="daytwo")
def cli() -> None:
    """daytwo: the LLM gateway and control plane for day two."""


def main() -> None:
    cli(prog_name="daytwo")
