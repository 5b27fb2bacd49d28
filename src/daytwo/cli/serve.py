"""``daytwo serve``: run the gateway."""

from __future__ import annotations

import click

from daytwo.cli.common import config_option, fail, load_or_fail
from daytwo.core.secrets import SecretError, SecretRegistry


@click.command()
@config_option
@click.option("--host", default=None, help="Listen address (overrides server.host).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Listen port (overrides server.port).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Overrides logging.level.",
)
def serve(config_path: str, host: str | None, port: int | None, log_level: str | None) -> None:
    """Run the OpenAI-compatible gateway."""
    from daytwo.admin.mount import create_app
    from daytwo.gateway.server import build_server
    from daytwo.telemetry.logs import configure_logging

    cfg = load_or_fail(config_path)
    secrets = SecretRegistry()
    listener = configure_logging(
        secrets, level=log_level or cfg.logging.level, fmt=cfg.logging.format
    )
    try:
        app = create_app(cfg, config_path=config_path, secrets=secrets, log_listener=listener)
    except SecretError as exc:
        listener.stop()
        fail(f"{config_path}: {exc}")
    build_server(app, cfg.server, host, port).run()
