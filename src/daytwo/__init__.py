"""daytwo: the self-hosted LLM gateway and control plane for day two."""

__version__ = "0.1.0"
