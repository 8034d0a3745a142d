"""The dependency direction of DESIGN §1, checked by parsing every import of the packages.

``core`` <- ``mcp_tools`` <- ``bots``; ``core`` <- ``web``; the Telegram and Discord adapters
never import each other. Only store modules (and migration lists) reach the database; ``bots``
never imports it (``core.store``, a SQLite driver) and only its store modules use the narrow
door core hands them (``core.tables``); the run layer never imports the features built on it.
Imports are read with ``ast``, so an import inside a function, under
``if TYPE_CHECKING:`` or through ``importlib.import_module("...")`` counts like any other.
"""

from __future__ import annotations

import ast
import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "mcp_tools", "bots", "web")

CHAT_SDKS = frozenset({"telegram", "discord"})
# Everything core must not know about: the outer layers and the SDKs of chat, MCP, web and the
# orchestrator's model.
CORE_FORBIDDEN = frozenset({"mcp_tools", "bots", "web", *CHAT_SDKS, "mcp", "starlette",
                            "uvicorn", "anthropic", "claude_agent_sdk"})
# The agent edge: core drives Claude Code through claude_agent_sdk, and only here. agent.py is
# the AgentRunner over ClaudeSDKClient; agent_setup.py locates the CLI bundled inside the SDK
# package.
# Any other core module talks to the agent through core.agent.session's types and Protocol.
CORE_EXCEPTIONS = frozenset({("core/agent/session.py", "claude_agent_sdk"),
                             ("core/agent/setup.py", "claude_agent_sdk")})
# The database: its wrapper and the SQLite drivers. Only store modules import them.
DB_MODULES = ("core.store.db", "aiosqlite", "sqlite3")
# Modules that reach the database without being stores, and why they must.
DB_EXCEPTIONS = frozenset({
    "core/runtime.py",  # opens the database and builds every store on it
    "core/jobs/connect.py",  # hands the coordinator's open database to the SQLite queue
    "core/jobs/sqlite.py",  # the job queue's SQLite backend (its SQL is in core/jobs/store.py)
    "core/cluster/on_worker/replica.py",  # opens a worker's own database, as core/runtime.py does
})
# Features built on runs; the run layer never knows about them.
RUN_FEATURES = ("core.formulas", "core.witness", "core.merges", "core.schedules",
                "core.github", "core.hooks", "core.gates", "core.loops")
MCP_TOOLS_FORBIDDEN = frozenset({"bots", "web", *CHAT_SDKS, "uvicorn"})  # bots serves HTTP
WEB_FORBIDDEN = frozenset({"mcp_tools", "bots", *CHAT_SDKS})
# Leaf modules: the vocabulary of their package, importing nothing else from it, so every other
# module can use them without a circle.
LEAVES = frozenset({"core/types.py", "core/errors.py", "bots/chat/types.py"})


@dataclass(frozen=True)
class Import:
    file: str  # relative to the tree's root, with forward slashes
    line: int
    module: str  # absolute dotted name

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.module}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def parse(source: str) -> list[ast.AST]:
    """Every node of a module; cached by its text, so scratch copies cost no second parse."""
    return list(ast.walk(ast.parse(source)))


def imports_of(root: Path, path: Path) -> list[Import]:
    rel = path.relative_to(root).as_posix()
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in parse(path.read_text()):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append(Import(rel, node.lineno, target))
            # `from bots import discord_bot` imports the module bots.discord.bot.
            found += [Import(rel, node.lineno, f"{target}.{alias.name}") for alias in node.names
                      if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name)
                       and node.func.id in ("__import__", "import_module")))):
            found.append(Import(rel, node.lineno, node.args[0].value))
    return found


def all_imports(root: Path) -> list[Import]:
    found: list[Import] = []
    for package in PACKAGES:
        if (root / package).is_dir():
            for path in sorted((root / package).rglob("*.py")):
                found += imports_of(root, path)
    return found


def adapter(imp_file: str) -> str | None:
    """Which chat adapter a file belongs to: bots/telegram*.py, bots/telegram*/..., or None."""
    parts = imp_file.split("/")
    if parts[0] != "bots" or len(parts) < 2:
        return None
    for platform in CHAT_SDKS:
        if parts[1].startswith(platform):
            return platform
    return None


def is_store(file: str) -> bool:
    """A store module (``store.py``, ``<thing>_store.py``, anything in core/store/) or a list
    of migrations (``migrations.py``)."""
    name = file.rsplit("/", 1)[-1]
    return (file.startswith("core/store/") or name in ("store.py", "migrations.py")
            or name.endswith("_store.py"))


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def imports_adapter(module: str, platform: str) -> bool:
    parts = module.split(".")
    return parts[0] == platform or (parts[0] == "bots" and len(parts) > 1
                                    and parts[1].startswith(platform))


def violations(root: Path) -> list[str]:
    """Every import that breaks the dependency direction, as 'file:line imports x (rule)'."""
    bad: list[str] = []
    for imp in all_imports(root):
        layer = imp.file.split("/")[0]
        if layer == "core" and imp.top in CORE_FORBIDDEN \
                and (imp.file, imp.top) not in CORE_EXCEPTIONS:
            bad.append(f"{imp} (core imports no outer layer and no chat/MCP/web/model SDK)")
        elif layer == "mcp_tools" and imp.top in MCP_TOOLS_FORBIDDEN:
            bad.append(f"{imp} (mcp_tools never imports bots, web or a chat SDK)")
        elif layer == "web" and imp.top in WEB_FORBIDDEN:
            bad.append(f"{imp} (web imports core only)")
        if within(imp.module, *DB_MODULES) and not is_store(imp.file) \
                and imp.file not in DB_EXCEPTIONS:
            bad.append(f"{imp} (only store modules reach the database; add a method to the "
                       "store of this concept)")
        if layer == "bots" and within(imp.module, "core.store", "aiosqlite", "sqlite3"):
            bad.append(f"{imp} (bots never imports the database: a store of the chat package "
                       "gets its tables from Runtime.tables)")
        if layer == "bots" and within(imp.module, "core.tables") and not is_store(imp.file) \
                and not imp.file.endswith("/migrations.py"):
            bad.append(f"{imp} (only the chat package's store and migrations use core.tables)")
        if imp.file.startswith("core/runs/") and within(imp.module, *RUN_FEATURES):
            bad.append(f"{imp} (core.runs never imports the features built on runs)")
        if imp.file in LEAVES and imp.top == layer:
            bad.append(f"{imp} (a leaf module imports nothing else from its package)")
        own = adapter(imp.file)
        for other in CHAT_SDKS - {own} if own else ():
            if imports_adapter(imp.module, other):
                bad.append(f"{imp} (the {own} and {other} adapters never import each other)")
    return sorted(set(bad))


def scratch_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, tmp_path / package,
                            ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((path.read_text() if path.exists() else "") + "\n" + text + "\n")


# -- the rules hold in the real tree ---------------------------------------------------------------


def test_the_packages_follow_the_dependency_direction_of_the_design() -> None:
    assert violations(ROOT) == []


def test_the_check_reads_the_real_imports_of_every_layer() -> None:
    # Guards against a check that passes because it parsed nothing.
    seen = {(imp.file.split("/")[0], imp.top) for imp in all_imports(ROOT)}
    assert {("core", "aiosqlite"), ("mcp_tools", "core"), ("bots", "mcp_tools"),
            ("bots", "core")} <= seen


def test_the_allowed_sdk_imports_in_core_are_all_still_needed() -> None:
    # When one of them goes away, shrink CORE_EXCEPTIONS so that it cannot come back unnoticed.
    used = {(imp.file, imp.top) for imp in all_imports(ROOT)}
    assert used >= CORE_EXCEPTIONS


def test_the_modules_allowed_to_reach_the_database_all_still_do() -> None:
    # When one stops (its SQL moved to a store), drop it from the list it is on.
    reaching = {imp.file for imp in all_imports(ROOT) if within(imp.module, *DB_MODULES)}
    assert reaching >= DB_EXCEPTIONS
    assert {"core/projects/store.py", "core/access/store.py", "core/budget/store.py",
            "core/store/db.py"} <= reaching


# -- the check catches a forbidden import (in a scratch copy of the tree) --------------------------


@pytest.mark.parametrize(("file", "code", "expected"), [
    ("core/events/bus.py", "import telegram", "core/events/bus.py:"),
    ("core/config/settings.py", "def f() -> None:\n    from bots.daemon import Daemon",
     "imports bots.daemon"),
    ("core/projects/service.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                         "    from mcp_tools.registry import ToolKit", "imports mcp_tools"),
    ("core/store/db.py", "import starlette.responses", "imports starlette.responses"),
    ("core/access/activity.py", "from anthropic import AsyncAnthropic", "imports anthropic"),
    ("core/budget/usage.py", "import claude_agent_sdk", "core/budget/usage.py:"),
    ("core/models.py", "import importlib\nimportlib.import_module('mcp.server')",
     "imports mcp.server"),
    ("core/types.py", "from ..bots import cli", "imports bots"),
    ("mcp_tools/server.py", "from bots.cli.main import main", "imports bots.cli.main"),
    ("mcp_tools/registry.py", "import discord", "mcp_tools/registry.py:"),
    ("bots/telegram_bot.py", "from bots.discord.bot import DiscordAdapter",
     "imports bots.discord.bot"),
    ("bots/discord/bot.py", "from ..telegram import bot", "imports bots.telegram.bot"),
    ("bots/telegram/handlers.py", "import discord.ext.commands", "imports discord.ext"),
    ("web/app.py", "from mcp_tools.server import build_server", "(web imports core only)"),
    ("core/projects/service.py", "import aiosqlite", "(only store modules reach the database"),
    ("core/budget/usage.py", "from core.store.db import Database", "imports core.store.db"),
    ("core/git/ops.py", "def f() -> None:\n    import sqlite3", "(only store modules"),
    ("core/runs/service.py", "from core.store.db import Database", "(only store modules"),
    ("core/runs/interactions.py", "import aiosqlite", "(only store modules"),
    ("mcp_tools/run_tools.py", "import sqlite3", "(only store modules reach the database"),
    ("bots/chat/orchestrator.py", "from core.store.db import Database",
     "(bots never imports the database"),
    ("bots/chat/store.py", "import aiosqlite", "(bots never imports the database"),
    ("bots/discord/bot.py", "from core.store import migrations", "imports core.store"),
    ("bots/telegram/bot.py", "from core.tables import Tables",
     "(only the chat package's store and migrations use core.tables)"),
    ("core/runs/supervisor.py", "from core.formulas import steps", "imports core.formulas"),
    ("core/runs/service.py", "def f() -> None:\n    import core.merges",
     "(core.runs never imports the features built on runs)"),
    ("core/runs/store.py", "from core.schedules.cron import next_fire", "core.schedules"),
    ("core/runs/review.py", "from core import witness", "imports core.witness"),
    ("bots/chat/types.py", "from bots.chat.render import truncate_line", "(a leaf module"),
    ("core/types.py", "from core.models import Run", "(a leaf module"),
])
def test_a_forbidden_import_added_anywhere_fails_the_check(
        tmp_path: Path, file: str, code: str, expected: str) -> None:
    tree = scratch_copy(tmp_path)
    assert violations(tree) == []
    append(tree / file, code)
    found = violations(tree)
    assert found, f"adding {code!r} to {file} went unnoticed"
    assert all(v.startswith(file + ":") for v in found)
    assert any(expected in v for v in found), found


def test_allowed_imports_in_a_scratch_copy_stay_allowed(tmp_path: Path) -> None:
    tree = scratch_copy(tmp_path)
    append(tree / "bots" / "telegram_bot.py", "import telegram\nfrom mcp_tools import server\n"
                                               "from core.runtime import Runtime")
    append(tree / "bots" / "discord_bot.py", "import discord\nfrom bots import cli")
    append(tree / "mcp_tools" / "server.py", "import starlette\nimport mcp")
    append(tree / "web" / "app.py", "from core.config import Config\nimport starlette")
    append(tree / "core" / "budget" / "store.py", "import sqlite3")
    append(tree / "core" / "schedules" / "schedule_store.py", "import aiosqlite\n"
                                                              "from core.runs import store")
    append(tree / "core" / "formulas" / "steps.py", "from core.runs.service import RunManager")
    append(tree / "bots" / "chat" / "store.py", "from core.tables import Row")
    assert violations(tree) == []
