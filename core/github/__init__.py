"""GitHub: triggers from webhooks (comments, labels, failed checks) and the bridge that
answers on the issue or pull request. The run layer never imports it.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.github.client import GitHubClient as GitHubClient
    from core.github.client import GitHubError as GitHubError
    from core.github.client import PullHeadMoved as PullHeadMoved
    from core.github.client import PullNotMergeable as PullNotMergeable
    from core.github.service import GitHubHooks as GitHubHooks
    from core.github.store import GitHubLink as GitHubLink
    from core.github.store import GitHubStore as GitHubStore

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "GitHubClient": "client",
    "GitHubError": "client",
    "GitHubHooks": "service",
    "GitHubLink": "store",
    "GitHubStore": "store",
    "PullHeadMoved": "client",
    "PullNotMergeable": "client",
})
