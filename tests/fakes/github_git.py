"""The git side of the fake GitHub: a real bare repository that a test's project pushes to
(through git's ``url.<bare>.insteadOf``), read and moved the way GitHub moves it when it
merges a pull request or deletes a branch.

Merges are real commits: ``git merge-tree --write-tree`` (git 2.38+) for the merged tree,
``git commit-tree`` for the commit, ``git update-ref`` with the old value so a push that lands
in between is never lost. A rebase merge replays the head's commits onto the base in a
temporary worktree and, as GitHub does, always writes new commits (new committer, new shas).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The committer of every commit GitHub writes when it merges.
COMMITTER = {"GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "GIT_CONFIG_NOSYSTEM": "1"}


class MergeConflict(Exception):
    """The head does not merge into the base without conflicts."""


class BaseMoved(Exception):
    """The base branch moved while the merge was being written."""


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True)
class BareRepo:
    path: Path

    def git(self, *args: str, env: dict[str, str] | None = None, check: bool = True,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        where = [] if cwd else [f"--git-dir={self.path}"]
        command = ["git", "-c", "commit.gpgSign=false", *where, *args]
        return subprocess.run(command, cwd=cwd, check=check, capture_output=True, text=True,
                              env={**base, **_NO_PROMPT, **(env or {})})

    # -- reading -----------------------------------------------------------------------------

    def sha(self, branch: str) -> str | None:
        """The commit a branch points at, None when there is no such branch."""
        found = self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}",
                         check=False)
        return found.stdout.strip() or None if found.returncode == 0 else None

    def resolve(self, ref: str) -> str | None:
        """A branch name or a (full or abbreviated) commit sha as a full sha."""
        return self.sha(ref) or self._commit(ref)

    def _commit(self, ref: str) -> str | None:
        if not ref or ref.startswith("-"):
            return None
        found = self.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
        return found.stdout.strip() or None if found.returncode == 0 else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.git("merge-base", "--is-ancestor", older, newer,
                        check=False).returncode == 0

    def merged_tree(self, base: str, head: str) -> str | None:
        """The tree of ``head`` merged into ``base``; None on a conflict."""
        found = self.git("merge-tree", "--write-tree", base, head, check=False)
        if found.returncode == 1:
            return None
        found.check_returncode()
        return found.stdout.split("\n", 1)[0].strip()

    def mergeable(self, base: str, head: str) -> bool:
        return self.merged_tree(base, head) is not None

    def file_at(self, sha: str, path: str) -> str | None:
        found = self.git("show", f"{sha}:{path}", check=False)
        return found.stdout if found.returncode == 0 else None

    def messages(self, base: str, head: str) -> list[str]:
        """The messages of the commits of ``head`` not on ``base``, oldest first."""
        out = self.git("log", "--reverse", "--format=%B%x00", f"{base}..{head}").stdout
        return [m.strip() for m in out.split("\0") if m.strip()]

    def author(self, sha: str) -> Author:
        name, _, email = self.git("log", "-1", "--format=%an%x00%ae", sha).stdout.strip() \
            .partition("\0")
        return Author(name, email)

    # -- writing (what GitHub does) ------------------------------------------------------------

    def merge(self, base: str, head_sha: str, *, method: str, message: str,
              author: Author) -> str:
        """Merge ``head_sha`` into branch ``base`` by ``method`` (merge, squash, rebase); the
        new commit of ``base``. Raises MergeConflict, or BaseMoved when a push moved ``base``
        meanwhile."""
        old = self.sha(base)
        if old is None:
            raise MergeConflict(f"no base branch {base!r}")
        if method == "rebase":
            new = self._replay(old, head_sha)
        else:
            tree = self.merged_tree(old, head_sha)
            if tree is None:
                raise MergeConflict(f"{head_sha[:7]} conflicts with {base}")
            parents = ["-p", old] + (["-p", head_sha] if method == "merge" else [])
            env = {**COMMITTER, "GIT_AUTHOR_NAME": author.name,
                   "GIT_AUTHOR_EMAIL": author.email}
            new = self.git("commit-tree", tree, *parents, "-m", message,
                           env=env).stdout.strip()
        moved = self.git("update-ref", f"refs/heads/{base}", new, old, check=False)
        if moved.returncode != 0:
            raise BaseMoved(base)
        return new

    def _replay(self, base_sha: str, head_sha: str) -> str:
        """The head's commits rewritten onto ``base_sha`` (authors kept, GitHub committing)."""
        place = Path(tempfile.mkdtemp(prefix="fake-github-rebase-"))
        tree = place / "tree"
        try:
            self.git("worktree", "add", "-q", "--detach", str(tree), head_sha)
            done = self.git("rebase", "-q", "--force-rebase", base_sha, cwd=tree,
                            env=COMMITTER, check=False)
            if done.returncode != 0:
                self.git("rebase", "--abort", cwd=tree, check=False)
                raise MergeConflict(f"{head_sha[:7]} does not rebase onto {base_sha[:7]}")
            return self.git("rev-parse", "HEAD", cwd=tree).stdout.strip()
        finally:
            self.git("worktree", "remove", "--force", str(tree), check=False)
            self.git("worktree", "prune", check=False)
            shutil.rmtree(place, ignore_errors=True)

    def delete(self, branch: str) -> bool:
        """Delete a branch; False when there was none."""
        old = self.sha(branch)
        if old is None:
            return False
        return self.git("update-ref", "-d", f"refs/heads/{branch}", old,
                        check=False).returncode == 0
