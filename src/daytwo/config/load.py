"""Loading ``daytwo.yaml``: YAML (safe loader, data only) → :class:`Config`, with errors that name
the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from daytwo.config.schema import Config
from daytwo.core.errors import ConfigError


def load_config(path: str | Path) -> Config:
    """Read and validate a config file. Raises :class:`ConfigError` listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror}"]) from None
    return parse_config(text, source=str(p), base_dir=p.parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{source}{where}: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    return validate_config(data, source=source, base_dir=base_dir)


def validate_config(
    data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None
) -> Config:
    """``base_dir``: the config file's folder, which relative file paths in it start from."""
    try:
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError([f"{source}: {line}" for line in format_errors(exc)]) from None


def format_errors(exc: ValidationError) -> list[str]:
    """One line per problem: ``key.path: what was expected (got ...)``."""
    lines = []
    errors = exc.errors(include_url=False)
    locs = [e["loc"] for e in errors]
    for err in errors:
        # A container reported "too short" only because its invalid items were dropped.
        if err["type"] == "too_short" and any(
            len(other) > len(err["loc"]) and other[: len(err["loc"])] == err["loc"]
            for other in locs
        ):
            continue
        path = ".".join(str(p) for p in err["loc"] if not _is_union_tag(p))
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error", "assertion_error"):
            msg = f"{msg} (got {_short(err['input'])})"
        # A validator at model level already names its own path in the message.
        if msg.startswith(("models.", "providers.")) or not path:
            lines.append(msg)
        else:
            lines.append(f"{path}: {msg}")
    return lines


#: The provider ``type`` tags (pydantic puts them in error locations).
PROVIDER_TYPES = frozenset({"openai", "azure_openai", "anthropic", "gemini", "bedrock", "sim"})


def _is_union_tag(part: int | str) -> bool:
    # pydantic puts the discriminator value / function name in the location of tagged unions
    return isinstance(part, str) and (part in PROVIDER_TYPES or part.startswith("function-"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
