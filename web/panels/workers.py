"""Workers (in a cluster only): the ``gluon worker`` processes that execute runs, each up,
draining or stale, with its runs; each can be drained or undrained."""

from __future__ import annotations

from typing import Any

from core.runtime import Runtime
from web.panels.base import Panel, View


async def load(view: View) -> dict[str, Any]:
    from core.cluster.link import ClusterUnavailable, answering  # redis: gluon[cluster]

    cluster = view.runtime.cluster
    assert cluster is not None  # the panel is shown only in a cluster
    try:
        with answering(view.runtime.config.cluster):
            return {"workers": await cluster.workers.list(), "problem": None,
                    "remote": view.runtime.config.cluster.remote}
    except ClusterUnavailable as exc:
        return {"workers": [], "problem": str(exc), "remote": True}


def _clustered(runtime: Runtime) -> bool:
    return runtime.cluster is not None


# A run moving to or from a worker is a state change.
PANEL = Panel("workers", "Workers", "panels/workers.html", load, frozenset({"RunStateChanged"}),
              shown=_clustered)
