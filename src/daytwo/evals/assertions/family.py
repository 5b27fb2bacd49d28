"""Which family a model belongs to, from its name: a judge of the candidate's own family
favours it (self-preference bias), so a suite can require a judge of another family."""

from __future__ import annotations

import re

#: (family, name pattern) in the order tried; names are lower-cased and may carry a provider
#: prefix (``openai/gpt-4o``, ``us.anthropic.claude-3-5-haiku...``, ``models/gemini-2.0``).
FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (family, re.compile(pattern))
    for family, pattern in (
        ("openai", r"(^|[/.:])(gpt-|chatgpt|o[1345](-|$)|text-embedding-|davinci|babbage|omni-)"),
        ("anthropic", r"(^|[/.:])(claude)"),
        ("google", r"(^|[/.:])(gemini|gemma|palm|text-bison|chat-bison)"),
        ("meta", r"(^|[/.:])(meta-llama|llama|codellama)"),
        ("mistral", r"(^|[/.:])(mistral|mixtral|codestral|ministral|pixtral|magistral|devstral)"),
        ("cohere", r"(^|[/.:])(command|c4ai|embed-(english|multilingual))"),
        ("deepseek", r"(^|[/.:])deepseek"),
        ("alibaba", r"(^|[/.:])(qwen|qwq)"),
        ("xai", r"(^|[/.:])grok"),
        ("microsoft", r"(^|[/.:])phi-"),
        ("amazon", r"(^|[/.:])(nova|titan)"),
    )
)


def model_family(name: str | None) -> str | None:
    """The family of a model name (``openai``, ``anthropic``, ``google``, ``meta``,
    ``mistral``, ...), or None when the name says nothing (an alias like ``judge``)."""
    if not name:
        return None
    lowered = name.lower()
    for family, pattern in FAMILIES:
        if pattern.search(lowered):
            return family
    return None
