"""The template engine: Jinja2's immutable sandbox, made data-only and bounded.

Prompt templates are data a pull request changes, never code. So:

* :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` -- no attribute walking into Python
  internals, no mutating methods, safe ``str.format``;
* refused when compiled: any name or attribute starting with ``_`` (``__class__``, ``_x``),
  ``include`` / ``import`` / ``extends`` (there is no loader: a template is one string),
  ``set`` / ``with`` / ``macro`` / ``call`` (nothing accumulates between outputs), loops nested
  more than :data:`MAX_LOOP_DEPTH` deep, and templates longer than :data:`MAX_TEMPLATE_CHARS`;
* only the filters of :data:`FILTERS` and the methods of :data:`METHODS` can be called (none
  of them grows its input by a caller-chosen amount: no ``center``, ``indent``, ``format``);
* bounded when rendered: ``range`` yields at most :data:`MAX_RANGE` items, every loop
  iteration over ``range`` or a variable's array or string counts against
  :data:`MAX_ITERATIONS` per render, ``*``, ``+`` and ``**`` refuse results past
  :data:`MAX_OUTPUT_CHARS` (``%`` on strings is refused), and the output stops at
  :data:`MAX_OUTPUT_CHARS`;
* ``StrictUndefined``: a name the template uses but the call does not give is an error naming
  it, never an empty string; autoescape is off (the output is a chat message, not HTML).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: Items one ``range`` may yield.
MAX_RANGE = 1_000
#: Loop iterations (over ``range`` and over the variables' arrays and strings) per render.
MAX_ITERATIONS = 10_000
#: Characters one rendered template may produce.
MAX_OUTPUT_CHARS = 200_000
#: Deepest nesting of ``{% for %}`` loops.
MAX_LOOP_DEPTH = 2
#: Longest template source, characters.
MAX_TEMPLATE_CHARS = 50_000
#: The filters a template may use.
FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int",
        "items", "join", "last", "length", "list", "lower", "max", "min", "reverse", "round",
        "sort", "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
        "wordcount",
    }
)  # fmt: skip
#: The methods a template may call (on strings and mappings).
METHODS = frozenset(
    {
        "capitalize", "endswith", "get", "items", "keys", "lower", "lstrip", "rstrip",
        "split", "startswith", "strip", "title", "upper", "values",
    }
)  # fmt: skip
_REFUSED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Assign,
    nodes.AssignBlock,
    nodes.With,
)


class TemplateRefused(Exception):
    """A template that may not be compiled, or whose rendering went past a bound."""


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_ITERATIONS

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise TemplateRefused(f"the template looped more than {MAX_ITERATIONS} times")


class _CountedList(list[Any]):
    """A variable's array: iterating it spends the render's loop budget."""

    __slots__ = ("_budget",)

    def __init__(self, items: list[Any], budget: _Budget) -> None:
        super().__init__(items)
        self._budget = budget

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            self._budget.take()
            yield item


class _CountedStr(str):
    """A variable's string: iterating it character by character spends the loop budget."""

    __slots__ = ("_budget",)
    _budget: _Budget

    def __iter__(self) -> Iterator[str]:
        for ch in super().__iter__():
            self._budget.take()
            yield ch


def _guard(value: Any, budget: _Budget) -> Any:
    if isinstance(value, str):
        s = _CountedStr(value)
        s._budget = budget
        return s
    if isinstance(value, list):
        return _CountedList([_guard(v, budget) for v in value], budget)
    if isinstance(value, dict):
        return {k: _guard(v, budget) for k, v in value.items()}
    return value


def _bounded_range(budget: _Budget) -> Any:
    def bounded(*args: int) -> Iterator[int]:
        r = range(*args)
        if len(r) > MAX_RANGE:
            raise TemplateRefused(f"range() of {len(r)} items (at most {MAX_RANGE})")
        for i in r:
            budget.take()
            yield i

    bounded._daytwo_range = True  # type: ignore[attr-defined]  # the one callable global
    return bounded


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _num(right) and abs(right) > 64:
            raise TemplateRefused("`**` with an exponent above 64")
        if operator == "%" and isinstance(left, str):
            raise TemplateRefused("`%` formatting of strings is refused")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list) and _num(n) and len(seq) * n > MAX_OUTPUT_CHARS:
                    raise TemplateRefused(f"`*` past {MAX_OUTPUT_CHARS} items")
        if (
            operator == "+"
            and isinstance(left, str | list)
            and isinstance(right, str | list)
            and len(left) + len(right) > MAX_OUTPUT_CHARS
        ):
            raise TemplateRefused(f"`+` past {MAX_OUTPUT_CHARS} items")
        return super().call_binop(context, operator, left, right)

    # Jinja's own signature (positional-only by name mangling).
    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", None)
        method = getattr(__obj, "__self__", None) is not None and name in METHODS
        if not method and not getattr(__obj, "_daytwo_range", False):
            raise TemplateRefused(f"calling `{name or type(__obj).__name__}` is refused")
        return super().call(__context, __obj, *args, **kwargs)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Sandbox:
    """Compiles and renders prompt templates (one per :class:`~daytwo.prompts.store.PromptSet`:
    the environment caches compiled templates)."""

    def __init__(self) -> None:
        self.env = _Environment(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            auto_reload=False,
        )
        # No global is callable but our bounded range; dict()/lipsum()/cycler()/joiner()/
        # namespace() are not needed by a prompt.
        self.env.globals.clear()
        self.env.filters = {k: v for k, v in self.env.filters.items() if k in FILTERS}

    def compile(self, source: str) -> Compiled:
        """Parse and check a template (raises :class:`TemplateRefused` naming the problem)."""
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateRefused(f"longer than {MAX_TEMPLATE_CHARS} characters")
        try:
            tree = self.env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateRefused(f"line {exc.lineno}: {exc.message}") from None
        _check_tree(tree)
        names = frozenset(_free_names(tree))
        try:
            template = self.env.from_string(tree)
        except TemplateError as exc:
            raise TemplateRefused(str(exc)) from None
        return Compiled(source, template, names)


class Compiled:
    """One compiled template and the variable names it reads."""

    __slots__ = ("names", "source", "template")

    def __init__(self, source: str, template: Any, names: frozenset[str]) -> None:
        self.source = source
        self.template = template
        self.names = names

    def render(self, variables: Mapping[str, Any]) -> str:
        budget = _Budget()
        context = {k: _guard(v, budget) for k, v in variables.items()}
        context["range"] = _bounded_range(budget)
        out: list[str] = []
        size = 0
        try:
            for piece in self.template.generate(context):
                size += len(piece)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateRefused(
                        f"the rendered template passed {MAX_OUTPUT_CHARS} characters"
                    )
                out.append(piece)
        except UndefinedError as exc:
            raise TemplateRefused(exc.message or "undefined variable") from None
        except SecurityError as exc:
            raise TemplateRefused(f"refused by the sandbox: {exc}") from None
        except TemplateRefused:
            raise
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateRefused(f"{type(exc).__name__}: {exc}") from None
        return "".join(out)


def _check_tree(tree: nodes.Template) -> None:
    for node in tree.find_all(_REFUSED_NODES):
        kind = _TAG.get(type(node).__name__, type(node).__name__.lower())
        raise TemplateRefused(f"line {node.lineno}: `{kind}` is not allowed (templates are data)")
    for node in tree.find_all(nodes.Filter):
        if node.name not in FILTERS:
            raise TemplateRefused(f"line {node.lineno}: the filter `{node.name}` is not allowed")
    for node in tree.find_all((nodes.Getattr, nodes.Name)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node, "name", "")
        if name.startswith("_"):
            raise TemplateRefused(
                f"line {node.lineno}: `{name}`: names starting with `_` are refused"
            )
    for node in tree.find_all(nodes.Getitem):
        arg = node.arg
        if (
            isinstance(arg, nodes.Const)
            and isinstance(arg.value, str)
            and arg.value.startswith("_")
        ):
            raise TemplateRefused(
                f"line {node.lineno}: `{arg.value}`: names starting with `_` are refused"
            )
    depth = _loop_depth(tree)
    if depth > MAX_LOOP_DEPTH:
        raise TemplateRefused(f"loops nested {depth} deep (at most {MAX_LOOP_DEPTH})")


_TAG = {"FromImport": "from", "CallBlock": "call", "Assign": "set", "AssignBlock": "set"}


def _loop_depth(node: nodes.Node) -> int:
    inner = max((_loop_depth(child) for child in node.iter_child_nodes()), default=0)
    return inner + 1 if isinstance(node, nodes.For) else inner


def _free_names(tree: nodes.Template) -> set[str]:
    """The names a template reads from its context (not loop variables or ``set`` targets)."""
    from jinja2 import meta

    return set(meta.find_undeclared_variables(tree)) - {"range", "loop"}
