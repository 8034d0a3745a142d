"""What the MCP SDK makes of a tool function's signature, made once per test process.

Every Gluon process builds its tools once, but a test process builds them again for every
in-process ``gluon`` command, chat bot and tool client it starts: a pydantic argument model and
output schema for each of some eighty tools, a third of a second of CPU each time. The SDK
derives them from the function's name and signature alone (``func_metadata``), so a second
function with the same code and the same signature gets the same metadata; what a tool does
with its arguments (its function) is still the one each build registers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from mcp.server.mcpserver.tools import base
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata, func_metadata

_known: dict[Hashable, FuncMetadata] = {}


def _key(func: Callable[..., Any], skip_names: Sequence[str],
         structured_output: bool | None) -> Hashable:
    inner = inspect.unwrap(func)
    code = getattr(inner, "__code__", None)
    return (func.__name__, code, str(inspect.signature(func, eval_str=True)),
            tuple(skip_names), structured_output)


def _once(func: Callable[..., Any], skip_names: Sequence[str] = (),
          structured_output: bool | None = None) -> FuncMetadata:
    key = _key(func, skip_names, structured_output)
    known = _known.get(key)
    if known is None:
        known = _known[key] = func_metadata(func, skip_names=skip_names,
                                           structured_output=structured_output)
    return known


def install() -> None:
    """Tools registered from now on in this process share their signature's metadata.

    ``Tool.from_function`` looks ``func_metadata`` up in its module's namespace at each call;
    that name is replaced here, so an SDK that stops using it must fail loudly, not leave every
    test quietly paying for the schemas again."""
    used = getattr(base, "func_metadata", None)
    if used is _once:
        return
    if used is not func_metadata:
        raise RuntimeError("the MCP SDK no longer builds tools with tools.base.func_metadata: "
                           "update tests/tool_schemas.py")
    setattr(base, "func_metadata", _once)  # noqa: B010 (not a name the module exports)
