"""Template text rendered with Jinja2's sandbox: checked when saved, previewed, rendered per client.

The sandbox refuses unsafe calls at render time but quietly renders ``{{ ''.__class__ }}`` as
nothing; templates are also checked when saved, so any underscore attribute, unknown variable
or syntax error is refused with a message that says where.
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from chatd import errors

# ``event`` is the client event a generated email is about (chatd/services/generated_emails.py).
VARIABLES = frozenset({"client", "firm", "staff", "today", "now", "fields", "event"})
MAX_OUTPUT_CHARS = 100_000

_unknown: contextvars.ContextVar[list[str]] = contextvars.ContextVar("template_unknown")


class _RecordingUndefined(ChainableUndefined):
    """Renders as nothing and remembers its name, so a preview can list what is unknown."""

    __slots__ = ()

    def __str__(self) -> str:
        found = _unknown.get(None)
        name = self._undefined_name
        if found is not None and name is not None and name not in found:
            found.append(name)
        return ""


_ENV = SandboxedEnvironment(
    autoescape=False, undefined=_RecordingUndefined, keep_trailing_newline=True, trim_blocks=True
)


def check(source: str, what: str, variables: frozenset[str] = VARIABLES) -> None:
    """Refuse a template that does not parse, reaches for internals, or names unknown variables."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise errors.BadRequest(f"{what}: syntax error on line {exc.lineno}: {exc.message}") from None
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attribute = node.attr if isinstance(node, nodes.Getattr) else _constant(getattr(node, "arg", None))
        if isinstance(attribute, str) and attribute.startswith("_"):
            raise errors.BadRequest(f"{what}: line {node.lineno}: {attribute!r} is not allowed in templates")
    for node in tree.find_all(nodes.Filter):
        if node.name == "attr":
            raise errors.BadRequest(f"{what}: line {node.lineno}: the attr filter is not allowed in templates")
    unknown = sorted(meta.find_undeclared_variables(tree) - variables)
    if unknown:
        raise errors.BadRequest(f"{what}: unknown variable {', '.join(unknown)}; use {', '.join(sorted(variables))}")


@functools.lru_cache(maxsize=512)
def _compiled(source: str, what: str, variables: frozenset[str]) -> Template:
    """The template checked and compiled once: every staff message renders its firm's signature
    template, and parsing it each time was a tenth of a send's CPU. A refused one is not kept."""
    check(source, what, variables)
    return _ENV.from_string(source)


def _constant(node: nodes.Node | None) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def render(
    source: str, context: dict[str, Any], what: str, variables: frozenset[str] = VARIABLES
) -> tuple[str, list[str]]:
    """The rendered text and the names it used that the context does not have."""
    template = _compiled(source, what, variables)
    found: list[str] = []
    token = _unknown.set(found)
    try:
        text = template.render(context)
    except SecurityError as exc:
        raise errors.BadRequest(f"{what}: not allowed in templates: {exc}") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise errors.BadRequest(f"{what}: the template failed: {exc}") from None
    finally:
        _unknown.reset(token)
    if len(text) > MAX_OUTPUT_CHARS:
        raise errors.TooLarge(f"{what}: renders to over {MAX_OUTPUT_CHARS} characters")
    return text, found
