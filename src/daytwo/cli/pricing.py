"""``daytwo pricing``: look up a model's price, list the catalog, import LiteLLM's price list."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import click

from daytwo.config.schema import Config, PricingConfig
from daytwo.core.errors import ConfigError
from daytwo.pricing.catalog import Match, PriceBook
from daytwo.pricing.catalog_file import entry_to_json, format_decimal
from daytwo.pricing.entry import PriceEntry


class _UsageError(click.UsageError):
    """A usage error on one line (exit 2), without the usage banner."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


class _Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), ctx) from None


class _Group(click.Group):
    command_class = _Command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), ctx) from None


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)  # exit 1, one line on stderr


def _load(config_path: Path | None) -> tuple[PriceBook, Config | None]:
    """The price book of a config file (or of the defaults: the bundled catalog, policy flag)."""
    try:
        if config_path is None:
            return PriceBook.from_config(PricingConfig()), None
        from daytwo.config.load import load_config

        cfg = load_config(config_path)
        return PriceBook.from_config(cfg.pricing, base_dir=config_path.parent), cfg
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _price(value: Decimal) -> str:
    """At least cents: ``0.6`` → ``0.60``, ``3`` → ``3.00``, ``0.075`` stays."""
    text = format_decimal(value)
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac:0<2}"


def _money(value: Decimal) -> str:
    return f"${_price(value)}"


def _entry_json(entry: PriceEntry) -> dict[str, Any]:
    out = entry_to_json(entry)
    out["ref"] = entry.ref
    return out


@click.group(cls=_Group)
def pricing() -> None:
    """Model prices: look one up, list the catalog, import LiteLLM's price list."""


_config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="daytwo.yaml whose pricing section (overrides, catalogs, policy) applies.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@pricing.command()
@click.argument("model")
@click.option("--provider", "-p", help="The provider the call goes through (a name in the config).")
@_config_option
@_json_option
def show(model: str, provider: str | None, config_path: Path | None, as_json: bool) -> None:
    """Show the price daytwo applies to MODEL, and which rule found it.

    Exits 1 when MODEL has no price (and the policy does not estimate one).
    """
    book, cfg = _load(config_path)
    provider_type = None
    if cfg is not None and provider is not None and provider in cfg.providers:
        provider_type = cfg.providers[provider].type
    match = book.resolve(model, provider=provider, provider_type=provider_type)
    if match is None and book.unpriced == "estimate" and book.default is not None:
        match = Match(book.default, "default")
    if as_json:
        doc: dict[str, Any] = {"model": model, "provider": provider, "policy": book.unpriced}
        if match is None:
            doc.update(priced=False, admitted=book.unpriced != "deny")
        else:
            doc.update(priced=True, rule=match.rule, entry=_entry_json(match.entry))
        click.echo(json.dumps(doc, indent=2))
    elif match is None:
        outcome = {
            "flag": "calls are recorded with an unknown cost",
            "deny": "calls are refused",
            "estimate": "calls are priced at the default price",
        }[book.unpriced]
        click.echo(f"{model}: no price (policy {book.unpriced}: {outcome})")
    else:
        _print_match(model, match)
    if match is None:
        sys.exit(1)


def _print_match(model: str, match: Match) -> None:
    e = match.entry
    rows = [
        ("price", f"{e.provider}/{e.model}" if match.rule != "default" else "default price"),
        ("matched by", match.rule),
        ("input", f"{_money(e.input)} / 1M tokens"),
        (
            "cached input",
            "(input price)" if e.cached_input is None else f"{_money(e.cached_input)} / 1M tokens",
        ),
        (
            "cache write",
            "(input price)" if e.cache_write is None else f"{_money(e.cache_write)} / 1M tokens",
        ),
        ("output", f"{_money(e.output)} / 1M tokens"),
        ("mode", e.mode),
    ]
    if e.effective:
        rows.append(("effective", e.effective))
    if e.aliases:
        rows.append(("aliases", ", ".join(e.aliases)))
    if e.note:
        rows.append(("note", e.note))
    rows.append(("ref", e.ref))
    click.echo(model)
    for label, value in rows:
        click.echo(f"  {label:<13} {value}")


@pricing.command("list")
@click.option("--provider", "-p", help="Only this catalog provider (openai, anthropic, ...).")
@_config_option
@_json_option
def list_(provider: str | None, config_path: Path | None, as_json: bool) -> None:
    """List the catalog (bundled + extra catalogs) and the overrides."""
    book, _ = _load(config_path)
    entries = [*book.overrides(), *book.entries()]
    if provider is not None:
        entries = [e for e in entries if e.provider == provider.lower()]
    if as_json:
        doc = {"versions": list(book.versions), "models": [_entry_json(e) for e in entries]}
        click.echo(json.dumps(doc, indent=2))
        return
    if not entries:
        click.echo("no prices" + (f" for provider {provider}" if provider else ""))
        return
    _print_table(entries, book.versions)


def _print_table(entries: list[PriceEntry], versions: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    def opt(value: Decimal | None) -> str:
        return "-" if value is None else _price(value)

    table = Table(title="USD per million tokens", title_justify="left")
    table.add_column("provider")
    table.add_column("model", overflow="fold")
    for name in ("input", "cached", "cache write", "output"):
        table.add_column(name, justify="right")
    table.add_column("mode")
    for e in entries:
        table.add_row(
            e.provider,
            e.model,
            _price(e.input),
            opt(e.cached_input),
            opt(e.cache_write),
            _price(e.output),
            e.mode,
        )
    console = Console(width=None if sys.stdout.isatty() else 120, highlight=False)
    console.print(table)
    console.print("catalogs: " + "; ".join(versions))


@pricing.command("import")
@click.argument("litellm_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the daytwo-format catalog.",
)
@click.option(
    "--provider", "-p", "providers", multiple=True, help="Keep only this provider (repeatable)."
)
@_json_option
def import_(litellm_json: Path, output: Path, providers: tuple[str, ...], as_json: bool) -> None:
    """Convert LiteLLM's model_prices_and_context_window.json into a daytwo catalog file,
    usable in ``pricing.catalogs``."""
    from daytwo.pricing.litellm_import import import_litellm_file

    today = datetime.now(UTC).date().isoformat()
    try:
        result = import_litellm_file(litellm_json, updated=today, providers=providers or None)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    text = json.dumps(result.document, indent=2, ensure_ascii=False) + "\n"
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{output}: cannot write: {exc.strerror}") from None
    skipped = result.skipped_by_reason()
    if as_json:
        doc = {
            "output": str(output),
            "version": result.document["version"],
            "imported": result.imported,
            "skipped": skipped,
        }
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"wrote {result.imported} prices to {output} (version {result.document['version']})")
    if skipped:
        details = ", ".join(f"{count} {reason}" for reason, count in skipped.items())
        click.echo(f"skipped {sum(skipped.values())}: {details}")
