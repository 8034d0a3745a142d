"""The committed tool reference matches the registry."""

from __future__ import annotations

from pathlib import Path

from mcp_tools.reference import generate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tools.md"


async def test_docs_tools_md_is_the_reference_generated_from_the_code() -> None:
    assert DOCS.read_text() == await generate(), (
        "docs/tools.md is stale: run `uv run python -m mcp_tools.reference > docs/tools.md`")
