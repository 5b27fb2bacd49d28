"""Hostile templates are refused when compiled or bounded when rendered -- never executed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.prompts.files import SUPPORT_V1, prompt_dir

from daytwo.prompts import PromptError, PromptLoadError, load_prompts
from daytwo.prompts.sandbox import MAX_OUTPUT_CHARS, Sandbox, TemplateRefused

COMPILE_REFUSED = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "names starting with `_` are refused"),
    ("{{ topic['__class__'] }}", "`__class__`"),
    ("{{ _secret }}", "`_secret`"),
    ("{% include 'etc/passwd' %}", "`include`"),
    ("{% import 'x' as y %}", "`import`"),
    ("{% set y = topic ~ topic %}{{ y }}", "`set`"),
    ("{% macro m() %}{% endmacro %}", "`macro`"),
    ("{{ topic|center(100000000) }}", "filter `center`"),
    ("{{ topic|attr('upper') }}", "filter `attr`"),
    (
        "{% for a in range(3) %}{% for b in range(3) %}{% for c in range(3) %}{% endfor %}"
        "{% endfor %}{% endfor %}",
        "nested 3 deep",
    ),
]

RENDER_REFUSED = [
    ("{% for i in range(10000000) %}x{% endfor %}", "range() of 10000000 items"),
    ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "looped more"),
    ("{{ 'a' * 1000000000 }}", "`*` past"),
    ("{{ 9 ** 9999999 }}", "`**`"),
    ("{{ '%*s' % (1000000000, topic) }}", "`%`"),
    ("{{ topic.center(1000000000) }}", "calling `center`"),
    ("{{ topic.format(1) }}", "calling `format`"),
    ("{{ cycler }}", "'cycler' is undefined"),
    ("{% for i in range(900) %}{{ topic }}{% endfor %}", f"passed {MAX_OUTPUT_CHARS}"),
]


@pytest.mark.parametrize(("source", "why"), COMPILE_REFUSED)
def test_refused_when_compiled(source: str, why: str) -> None:
    with pytest.raises(TemplateRefused, match=why.replace("(", r"\(").replace(")", r"\)")):
        Sandbox().compile(source)


@pytest.mark.parametrize(("source", "why"), RENDER_REFUSED)
def test_bounded_when_rendered(source: str, why: str) -> None:
    compiled = Sandbox().compile(source)
    started = time.perf_counter()
    with pytest.raises(TemplateRefused) as err:
        compiled.render({"topic": "t" * 1000})
    assert why in str(err.value)
    assert time.perf_counter() - started < 1.0  # refused early, not after the work


def test_a_hostile_file_is_refused_at_load_naming_it(tmp_path: Path) -> None:
    evil = {**SUPPORT_V1, "system": "{{ customer.__class__.__init__.__globals__ }}"}
    with pytest.raises(PromptLoadError) as err:
        load_prompts(prompt_dir(tmp_path / "p", evil, labels={}))
    assert err.value.problems == [
        "p/support-reply/v1.yaml: system: line 1: `__globals__`: "
        "names starting with `_` are refused"
    ]


def test_a_loop_over_a_callers_array_is_bounded(tmp_path: Path) -> None:
    spec = {
        **SUPPORT_V1,
        "system": "{% for a in items %}{% for b in items %}.{% endfor %}{% endfor %}",
        "variables": {"items": {"type": "array"}},
        "messages": [],
    }
    prompts = load_prompts(prompt_dir(tmp_path / "p", spec, labels={}))
    version = prompts.versions["support-reply"][1]
    assert prompts.render(version, {"items": [1, 2, 3]}).messages[0]["content"] == "." * 9
    with pytest.raises(PromptError, match="looped more than"):
        prompts.render(version, {"items": list(range(5000))})


def test_safe_templates_still_work() -> None:
    compiled = Sandbox().compile(
        "{{ name|title }}: {% for k, v in facts|dictsort %}{{ k }}={{ v }}; {% endfor %}"
        "{{ tags|join(', ') }} {{ n + 1 }} {{ note|default('none') }} {{ name.upper() }}"
    )
    out = compiled.render(
        {"name": "ann", "facts": {"b": 2, "a": 1}, "tags": ["x", "y"], "n": 4, "note": None}
    )
    assert out == "Ann: a=1; b=2; x, y 5 None ANN"
