"""The tool reference (docs/tools.md), generated from the registry.

    uv run python -m mcp_tools.reference > docs/tools.md

A test checks that the committed file matches, so the reference never drifts from the code.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client

from core.config import Config
from core.runtime import Runtime
from mcp_tools.registry import ToolKit
from mcp_tools.server import build_server


def _param_line(name: str, spec: dict[str, Any], required: bool) -> str:
    kinds = [s.get("type", "") for s in spec.get("anyOf", [spec]) if s.get("type") != "null"]
    kind = "/".join(k for k in kinds if k) or "object"
    if "enum" in spec:
        kind = " | ".join(json.dumps(v) for v in spec["enum"])
    default = "" if required else f" (default `{json.dumps(spec.get('default'))}`)"
    description = spec.get("description", "")
    return f"- `{name}` ({kind}){default}: {description}".rstrip(": ")


def render(tools: list[Any], kit: ToolKit) -> str:
    lines = ["# Gluon tools", "",
             "Generated from the code by `uv run python -m mcp_tools.reference`; do not edit.",
             "", f"{len(tools)} tools. Roles: a viewer may call the read-only tools, an "
             "operator all but the admin ones, an admin every tool; a few tools that touch "
             "only the caller's own sign-ins name a lower role. On chat surfaces the "
             "destructive ones wait for the user's confirmation.", ""]
    for tool in sorted(tools, key=lambda t: t.name):
        hints = tool.annotations
        flags = [name for name, on in (("read-only", hints.read_only_hint),
                                       ("destructive", hints.destructive_hint),
                                       ("idempotent", hints.idempotent_hint)) if on]
        effect = ", ".join(flags) or "changes state"
        lines += [f"## `{tool.name}`", "", f"*{effect}; role: {kit.required_role(tool.name)}*",
                  "", tool.description or "", ""]
        schema = tool.input_schema
        props: dict[str, Any] = schema.get("properties", {})
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        if props:
            lines.append("Parameters:")
            for name, spec in props.items():
                if "$ref" in spec or any("$ref" in s for s in spec.get("anyOf", [])):
                    ref = (spec.get("$ref") or next(s["$ref"] for s in spec["anyOf"]
                                                     if "$ref" in s)).split("/")[-1]
                    spec = {**defs.get(ref, {}), **{k: v for k, v in spec.items()
                                                    if k not in ("$ref", "anyOf")}}
                lines.append(_param_line(name, spec, name in required))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


async def generate() -> str:
    with tempfile.TemporaryDirectory() as home:
        runtime = Runtime(Config(home=Path(home)))
        await runtime.open(resume_interrupted=False)
        try:
            server, kit = build_server(runtime)
            async with Client(server) as client:
                return render((await client.list_tools()).tools, kit)
        finally:
            await runtime.close()


if __name__ == "__main__":
    sys.stdout.write(asyncio.run(generate()))
