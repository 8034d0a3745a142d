"""No tool call can crash the server: every tool, called with arguments generated from its own
input schema, returns a result or a clean one-line error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.runtime import Runtime
from mcp_tools.registry import ERROR_PREFIX
from tests.mcp_tools.client import connected

EXAMPLES = 12
# Parameters that say how long a tool may wait for something to happen. Nothing happens in
# this test, so a drawn 60 s would only wait 60 s: they get short waits (still from 0 up, so
# the bounds are exercised); waiting itself is tested where something does happen.
WAITS = frozenset({"wait_seconds", "timeout_seconds"})


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None
                ) -> st.SearchStrategy[Any]:
    """A strategy for the JSON schemas pydantic writes for tool parameters."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].split("/")[-1]], defs)
    if "anyOf" in schema:
        return st.one_of([from_schema(s, defs) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return st.text(max_size=40)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    if kind == "number":
        low = schema.get("exclusiveMinimum", schema.get("minimum"))
        return st.floats(low, schema.get("maximum", 1e9), allow_nan=False,
                         exclude_min="exclusiveMinimum" in schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), defs), max_size=3)
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        def value(name: str, spec: dict[str, Any]) -> st.SearchStrategy[Any]:
            return st.floats(0, 0.05) if name in WAITS else from_schema(spec, defs)

        return st.fixed_dictionaries(
            {k: value(k, v) for k, v in props.items() if k in required},
            optional={k: value(k, v) for k, v in props.items() if k not in required})
    return st.none()


def generated_arguments(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Hypothesis draws the arguments; the calls happen in the test's own event loop."""
    drawn: list[dict[str, Any]] = []

    @settings(max_examples=EXAMPLES, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(from_schema(schema))
    def draw(arguments: dict[str, Any]) -> None:
        drawn.append(arguments)

    draw()
    return drawn


async def test_every_tool_answers_generated_arguments_without_crashing(
        runtime: Runtime) -> None:
    async with connected(runtime) as client:
        tools = (await client.list_tools()).tools
        for tool in tools:
            for arguments in generated_arguments(dict(tool.input_schema)):
                result = await client.call_tool(tool.name, arguments)
                if not result.is_error:
                    continue
                text = " ".join(getattr(c, "text", "") for c in result.content)
                assert text.strip(), (tool.name, arguments)
                # A crash is reported as the bare prefix, with no message of its own.
                assert text.strip() != f"{ERROR_PREFIX}{tool.name}", (tool.name, arguments)
                assert "Traceback" not in text, (tool.name, arguments)
        assert len((await client.list_tools()).tools) == len(tools)
