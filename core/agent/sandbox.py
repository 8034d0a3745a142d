"""The agent sandbox: the whole Claude Code process runs under bubblewrap.

Inside, the agent sees ``/usr`` and ``/etc`` read-only (minus the host's secrets), a private
``/tmp``, its own worktree and agent home (writable), the repository's git dir (writable, but
not its hooks or config, which the user's own git would run), and the CLI binary. Everything
else — ``~/.ssh``, ``~/.aws``, ``~/.config/gh``, the Gluon data dir, other runs' worktrees,
the user's checkout — does not exist there. It has no capabilities and its own user, pid, ipc
and uts namespaces, so it can neither remount anything nor see or signal the daemon. The
network is shared, because the agent must reach the model API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.git import ops as gitops

# Files under /etc that no agent needs and that root-owned secrets live in.
MASKED_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-",
                "/etc/sudoers")
MASKED_DIRS = ("/etc/ssh", "/etc/sudoers.d", "/etc/ssl/private")


class SandboxUnavailable(UserError):
    """The sandbox is required but cannot run here; the message names what to install."""


@dataclass(frozen=True)
class SandboxPlan:
    outer: bool  # the whole CLI under bubblewrap
    inner: bool  # Claude Code's own sandbox around each Bash command
    inner_required: bool  # fail the run rather than run Bash unconfined


@dataclass(frozen=True)
class SandboxStatus:
    bwrap: str | None
    socat: str | None
    works: bool
    problem: str

    @property
    def available(self) -> bool:
        return self.works and self.socat is not None

    def describe(self) -> str:
        if self.available:
            return f"agents run in bubblewrap ({self.bwrap}); Bash also in Claude Code's sandbox"
        return self.problem


@functools.cache
def probe() -> SandboxStatus:
    """Whether bubblewrap and socat are installed and user namespaces work (cached)."""
    bwrap, socat = shutil.which("bwrap"), shutil.which("socat")
    missing = [pkg for pkg, path in (("bubblewrap", bwrap), ("socat", socat)) if path is None]
    if bwrap is None:
        return SandboxStatus(None, socat, False, _missing(missing))
    try:
        subprocess.run([bwrap, "--unshare-all", "--share-net", "--cap-drop", "ALL",
                        "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                        "--proc", "/proc", "--dev", "/dev", "true"],
                       check=True, capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        return SandboxStatus(bwrap, socat, False,
                             "bubblewrap cannot create namespaces here "
                             f"({detail.decode(errors='replace').strip()[:200]}); allow "
                             "unprivileged user namespaces (sysctl kernel.unprivileged_userns_"
                             "clone=1) or run Gluon in its container")
    if missing:
        return SandboxStatus(bwrap, socat, True, _missing(missing))
    return SandboxStatus(bwrap, socat, True, "")


def plan(mode: str, status: SandboxStatus | None = None) -> SandboxPlan:
    """What sandboxing a run gets under ``agents.sandbox`` = required | auto | off."""
    status = status or probe()
    if mode == "required" and not status.available:
        raise SandboxUnavailable(f"agents.sandbox is 'required' but {status.problem}")
    if mode == "off":
        # Bash stays confined by Claude Code's own sandbox when it can run.
        return SandboxPlan(outer=False, inner=status.available, inner_required=False)
    return SandboxPlan(outer=status.works, inner=status.available,
                       inner_required=mode == "required")


def _missing(packages: list[str]) -> str:
    return (f"{' and '.join(packages)} {'is' if len(packages) == 1 else 'are'} missing, so "
            f"agents cannot be sandboxed; install {' '.join(packages)} "
            f"(apt-get install {' '.join(packages)})")


def _usr_links() -> list[str]:
    """Debian/Ubuntu merge /bin, /lib... into /usr: recreate those links inside."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


AGENT_ID = 1000


def sandbox_ids() -> tuple[int, int]:
    """The uid and gid the agent has inside: the daemon's own, or an unprivileged one when the
    daemon runs as root (root inside could not start Claude Code's own nested sandbox, and
    would be refused bypassPermissions)."""
    uid, gid = os.getuid(), os.getgid()
    return (AGENT_ID, AGENT_ID) if uid == 0 else (uid, gid)


def bwrap_command(*, bwrap: str, worktree: Path, git_dir: Path | None, agent_home: Path,
                  cli: Path, read_only: list[Path] | None = None) -> list[str]:
    """The bubblewrap command line that runs ``cli`` confined to one run's files."""
    uid, gid = sandbox_ids()
    args = [bwrap, "--unshare-user", "--uid", str(uid), "--gid", str(gid),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--share-net", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr", *_usr_links(),
            "--ro-bind", "/etc", "/etc"]
    for masked in MASKED_FILES:
        if Path(masked).exists():
            args += ["--ro-bind", "/dev/null", masked]
    for masked in MASKED_DIRS:
        if Path(masked).is_dir():
            args += ["--tmpfs", masked]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run",
             "--ro-bind", str(cli), str(cli)]
    for extra in read_only or []:
        if extra.exists():
            args += ["--ro-bind", str(extra), str(extra)]
    if git_dir is not None:
        args += ["--bind", str(git_dir), str(git_dir)]
        # The user's own git runs hooks and config settings (core.fsmonitor, aliases): an
        # agent must not be able to plant either.
        for name in ("hooks", "config"):
            if (git_dir / name).exists():
                args += ["--ro-bind", str(git_dir / name), str(git_dir / name)]
    args += ["--bind", str(agent_home), str(agent_home),
             "--bind", str(worktree), str(worktree),
             "--remount-ro", "/",
             "--chdir", str(worktree)]
    return args


# Claude Code's Bash sandbox protects these paths in the working directory by mounting over
# them, so inside a command they look like device files, which `git add -A` refuses. The
# agent's own git (its global excludes file, in its home) ignores them; tracked files are not
# affected.
PROTECTED_NAMES = (".bash_profile", ".bashrc", ".claude", ".gitconfig", ".gitmodules", ".idea",
                   ".mcp.json", ".profile", ".ripgreprc", ".vscode", ".zprofile", ".zshrc")


ATTACHMENTS_DIR = ".gluon-attachments"  # files sent with a request, in the run's worktree

# Claude Code's Bash sandbox makes a protected path that does not exist yet by bind-mounting
# over an empty file that bubblewrap creates (mode 0444) and removes after the command. When
# the agent is killed inside a command (Gluon stopped or died), about two dozen of these
# stand-ins stay behind: .bashrc, .gitmodules, .mcp.json, .vscode, .claude/settings.json ...
STAND_IN_DIRS = (".claude",)  # stand-ins are also made directly inside these


async def remove_stand_ins(root: Path, *, only_read_only: bool = False) -> list[str]:
    """Delete the empty stand-ins Claude Code's Bash sandbox left in ``root``; return their
    paths (relative to ``root``), so a commit can leave them out even if one could not go.

    A stand-in is an empty regular file, not tracked by git, named like a protected path at the
    top of ``root`` (or directly inside ``.claude/``). Nothing with content is touched, nor
    any tracked file: an empty untracked file there has nothing to lose and is exactly what
    the sandbox leaves. In a person's own checkout (``only_read_only``) only the read-only ones
    bubblewrap makes are taken, in case they made an empty file of that name themselves.
    Folders left empty by the removal (``.claude``) go too.
    """
    candidates = await asyncio.to_thread(_empty_protected_files, root, only_read_only)
    if not candidates:
        return []
    tracked = await gitops.tracked_paths(root, candidates)
    stand_ins = [path for path in candidates if path not in tracked]
    await asyncio.to_thread(_delete, root, stand_ins)
    return stand_ins


def _empty_protected_files(root: Path, only_read_only: bool) -> list[str]:
    def empty(path: Path) -> bool:
        try:
            info = path.lstat()
        except OSError:
            return False
        return (stat.S_ISREG(info.st_mode) and info.st_size == 0
                and not (only_read_only and info.st_mode & 0o222))

    found = [name for name in PROTECTED_NAMES if empty(root / name)]
    for folder in STAND_IN_DIRS:
        path = root / folder
        if path.is_dir() and not path.is_symlink():
            found += [f"{folder}/{entry.name}" for entry in sorted(
                path.iterdir(), key=lambda p: p.name) if empty(entry)]
    return found


def _delete(root: Path, paths: list[str]) -> None:
    for rel in paths:
        try:
            (root / rel).unlink()
        except FileNotFoundError:
            pass
        except OSError:
            continue  # the caller leaves it out of the commit anyway
        parent = (root / rel).parent
        if parent != root:
            with contextlib.suppress(OSError):
                parent.rmdir()  # only when now empty


def write_git_excludes(agent_home: Path) -> None:
    path = agent_home / ".config" / "git" / "ignore"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"/{name}\n" for name in (*PROTECTED_NAMES, ATTACHMENTS_DIR)))


def claude_sandbox_settings(*, outer: bool, required: bool) -> dict[str, object]:
    """Claude Code's own Bash sandbox (a bwrap per command), nested in the outer one."""
    return {"sandbox": {"enabled": True, "failIfUnavailable": required,
                        "autoAllowBashIfSandboxed": True,
                        "enableWeakerNestedSandbox": outer}}
