"""Prompts as code: versioned YAML files in a directory, labels per environment, a sandboxed
template engine, content hashes that identify a version wherever it is served.

The room is pure logic over files (no HTTP, no database): it imports only ``core`` and
``config``. The gateway's stage 3 ("resolve") and the ``daytwo prompts`` commands sit on it.

* :mod:`.sandbox`  -- the Jinja2 sandbox: bounded, data-only templates
* :mod:`.spec`     -- the file schema (pydantic, frozen) and a version's identity hash
* :mod:`.store`    -- loading a directory (+ labels, lock file) into a :class:`PromptSet`
* :mod:`.render`   -- variables checked, messages and parameters rendered, with a cache
* :mod:`.reference` -- ``prompt:NAME[@label|@vN]``
* :mod:`.published` -- what was published: the lock file, the versions on a git base
* :mod:`.check`    -- what ``daytwo prompts check`` finds (immutability, summary)
"""

from daytwo.prompts.errors import PromptError, PromptLoadError
from daytwo.prompts.reference import PromptRef, parse_reference
from daytwo.prompts.render import Rendered
from daytwo.prompts.spec import PromptVersion
from daytwo.prompts.store import PromptSet, load_prompts

__all__ = [
    "PromptError",
    "PromptLoadError",
    "PromptRef",
    "PromptSet",
    "PromptVersion",
    "Rendered",
    "load_prompts",
    "parse_reference",
]
