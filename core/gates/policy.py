"""Supervision policies: what happens to a run when its gates give up (a gate still fails
after ``[gates] max_fixes`` fixes).

- manual (the default): the run goes to review with its failing gates recorded and said; a
  person decides.
- conservative: the agent gets one more resume first.
- aggressive: the agent is resumed until the gates pass, while the run is within its budget,
  at most :data:`AGGRESSIVE_ROUNDS` times.

A pure decision over the round's count of extra resumes, so it is tested without a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.gates.types import Supervision

AGGRESSIVE_ROUNDS = 10  # the hard cap of an aggressive policy's extra resumes in one round


@dataclass(frozen=True)
class Decision:
    resume: bool
    text: str  # what the policy did, said to the run's followers (source "policy")


def decide(policy: Supervision, extra: int, failing: str, fixes: int, *, cost_usd: float,
           budget_usd: float | None) -> Decision:
    """``extra``: the resumes this policy already gave in the round; ``failing``: what still
    fails ("lint still fails (2 errors left)"); ``fixes``: the fixes the gate asked for."""
    after = f"after {fixes} fix{'es' if fixes != 1 else ''}"
    if policy is Supervision.CONSERVATIVE:
        if extra < 1:
            return Decision(True, f"🛟 Conservative supervision: {failing} {after}; giving the "
                                  "agent one more try")
        return Decision(False, f"✋ Conservative supervision: {failing} after one more try; "
                               "the run goes to review with the gate failing")
    if policy is Supervision.AGGRESSIVE:
        if budget_usd is not None and cost_usd >= budget_usd:
            return Decision(False, f"✋ Aggressive supervision: {failing}, and the run has "
                                   f"spent its budget (${budget_usd:.2f}); it goes to review")
        if extra < AGGRESSIVE_ROUNDS:
            return Decision(True, f"🔁 Aggressive supervision: {failing} {after}; resuming "
                                  f"the agent ({extra + 1}/{AGGRESSIVE_ROUNDS})")
        return Decision(False, f"✋ Aggressive supervision: {failing} after "
                               f"{AGGRESSIVE_ROUNDS} more tries; the run goes to review")
    return Decision(False, f"✋ Manual supervision: {failing} {after}; the run goes to review "
                           "with the gate failing")
