"""The configuration: a YAML file validated into frozen pydantic models, and its hot reload."""

from daytwo.config.schema import Config

__all__ = ["Config"]
