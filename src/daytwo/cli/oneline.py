"""Usage errors as one line (``daytwo spend: --since: ...``) with exit code 2, never click's
usage banner. Light: click only, so ``--help`` stays fast."""

from __future__ import annotations

from typing import Any, ClassVar

import click


class OneLineUsageError(click.UsageError):
    """A usage error printed as ``<prefix>: <message>``; subclasses set ``prefix``."""

    prefix: ClassVar[str] = "daytwo"

    def show(self, file: Any = None) -> None:
        click.echo(f"{self.prefix}: {self.format_message()}", err=True)


class OneLineCommand(click.Command):
    """Turns click's own parse errors into the command's one-line usage error."""

    usage_error: ClassVar[type[OneLineUsageError]] = OneLineUsageError

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise self.usage_error(exc.format_message()) from None


def one_line_family(
    prefix: str,
) -> tuple[type[OneLineUsageError], type[OneLineCommand], type[click.Group]]:
    """The usage error, command and group classes of one command family (``daytwo keys``):
    every command of the group reports click's parse errors as ``<prefix>: <message>``;
    subgroups of the group are such groups too."""
    usage = type("UsageError", (OneLineUsageError,), {"prefix": prefix})
    command = type("Command", (OneLineCommand,), {"usage_error": usage})
    # click: ``group_class = type`` makes subgroups instances of the group's own class
    group = type("Group", (click.Group,), {"command_class": command, "group_class": type})
    return usage, command, group
