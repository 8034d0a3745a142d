"""The shared vocabulary: roles in their order, and which run states count as ended."""

from __future__ import annotations

from core.types import Role, RunState


def test_roles_rise_from_viewer_to_admin_and_keep_their_stored_names() -> None:
    assert [str(r) for r in sorted(Role, key=lambda r: r.rank)] == ["viewer", "operator",
                                                                    "admin"]
    assert Role.ADMIN.at_least(Role.OPERATOR) and Role.OPERATOR.at_least(Role.OPERATOR)
    assert not Role.VIEWER.at_least(Role.OPERATOR)
    assert Role("operator") is Role.OPERATOR and f"{Role.ADMIN}" == "admin"


def test_every_run_is_either_live_or_ended_and_merged_or_closed_runs_cannot_be_resumed(
) -> None:
    for state in RunState:
        assert state.is_ended is not state.is_live, state
    assert {s for s in RunState if s.is_ended} == {
        RunState.REVIEW, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED,
        RunState.MERGED, RunState.CLOSED}
    assert {s for s in RunState if s.is_resumable} == {
        RunState.REVIEW, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED}
