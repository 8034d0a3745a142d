"""The start of a ``git-receive-pack`` request (a push over smart HTTP), read before any of its
objects: which refs it updates, and the answer that refuses them.

A push request is pkt-lines (four hex digits of length, then the payload): optional
``shallow <sha>`` lines, the ref updates (``<old> <new> <ref>``, the first followed by NUL and
the client's capabilities), a flush-pkt (``0000``), then push options and the pack. The answer
that refuses is a report (``unpack ok``, then ``ng <ref> <reason>`` per ref, then a flush-pkt),
sent in side-band 1 when the client asked for a side band: what git's own receive-pack sends
when its pre-receive hook declines, so the pushing git prints ``! [remote rejected] ... (reason)``.
"""

from __future__ import annotations

from dataclasses import dataclass

ALLOWED_PREFIX = "refs/heads/gluon/"
"""The only refs workers may push: the runs' branches. The user's branches are read-only."""

MAX_COMMANDS_BYTES = 1 << 20  # the ref updates of a push fit well within 1 MiB


class MalformedPush(ValueError):
    """The request does not start with well-formed pkt-lines."""


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


@dataclass(frozen=True)
class PushCommands:
    updates: list[RefUpdate]
    capabilities: frozenset[str]
    size: int  # bytes of the request they took, the flush-pkt included


def read_commands(data: bytes) -> PushCommands | None:
    """The ref updates at the start of ``data``; None while the flush-pkt that ends them has
    not arrived yet."""
    at, updates, capabilities = 0, list[RefUpdate](), frozenset[str]()
    while True:
        if len(data) < at + 4:
            return _incomplete(data)
        try:
            length = int(data[at:at + 4], 16)
        except ValueError:
            raise MalformedPush(f"not a pkt-line length: {data[at:at + 4]!r}") from None
        if length == 0:
            if not updates:
                raise MalformedPush("a push without ref updates")
            return PushCommands(updates, capabilities, at + 4)
        if length < 4:
            raise MalformedPush(f"unexpected pkt-line {data[at:at + 4]!r} among ref updates")
        if len(data) < at + length:
            return _incomplete(data)
        line = data[at + 4:at + length].rstrip(b"\n")
        at += length
        line, nul, caps = line.partition(b"\0")
        if nul and not updates:
            capabilities = frozenset(caps.decode("ascii", "replace").split())
        if line.startswith(b"shallow "):
            continue
        fields = line.decode("utf-8", "replace").split(" ")
        if len(fields) != 3:
            raise MalformedPush(f"not a ref update: {line[:100]!r}")
        updates.append(RefUpdate(*fields))


def _incomplete(data: bytes) -> PushCommands | None:
    """None (more bytes are needed), unless too many came already."""
    if len(data) > MAX_COMMANDS_BYTES:
        raise MalformedPush(f"no end of the ref updates in the first {MAX_COMMANDS_BYTES} bytes")
    return None


def refused(updates: list[RefUpdate]) -> dict[str, str]:
    """Why each update of a push is refused (all of them when any ref is not a run's branch;
    a push is taken whole or not at all); empty when it may go on."""
    outside = [u.ref for u in updates if not u.ref.startswith(ALLOWED_PREFIX)
               or ".." in u.ref or u.ref.endswith("/")]
    if not outside:
        return {}
    why = f"Gluon workers may push only {ALLOWED_PREFIX}*"
    return {u.ref: why if u.ref in outside else "another ref of this push was refused"
            for u in updates}


def pkt_line(payload: bytes) -> bytes:
    return f"{len(payload) + 4:04x}".encode() + payload


def refusal(reasons: dict[str, str], capabilities: frozenset[str]) -> bytes:
    """The receive-pack answer refusing every ref of ``reasons``."""
    report = pkt_line(b"unpack ok\n") + b"".join(
        pkt_line(f"ng {ref} {why}\n".encode()) for ref, why in reasons.items()) + b"0000"
    if not capabilities & {"side-band-64k", "side-band"}:
        return report
    limit = 65515 if "side-band-64k" in capabilities else 995
    return b"".join(pkt_line(b"\x01" + report[i:i + limit])
                    for i in range(0, len(report), limit)) + b"0000"
