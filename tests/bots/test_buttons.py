"""Button data: every action a button can do survives the trip through a platform and back,
fits both platforms' limits, and data the bot did not make is refused in one line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bots.chat.buttons import (
    DISCORD_LIMIT,
    MAX_ID,
    MAX_OPTION,
    PREFIX,
    TELEGRAM_LIMIT,
    UnknownButton,
    encode,
    parse,
)
from bots.chat.types import Act, Answer, ButtonAction, Choose, Confirm, Retranscribe, Verb

ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=MAX_ID)
actions: st.SearchStrategy[ButtonAction] = st.one_of(
    st.builds(Answer, ids, st.integers(min_value=0, max_value=MAX_OPTION)),
    st.builds(Choose, ids),
    st.builds(Confirm, ids, st.booleans()),
    st.builds(Act, st.sampled_from(Verb), ids),
    st.builds(Retranscribe, ids),
)


@given(actions)
def test_every_action_comes_back_from_its_button_data_unchanged(action: ButtonAction) -> None:
    assert parse(encode(action)) == action


@given(actions)
def test_every_button_data_fits_telegram_and_discord(action: ButtonAction) -> None:
    data = encode(action)
    assert len(data.encode()) <= TELEGRAM_LIMIT and len(data) <= DISCORD_LIMIT


@given(st.text(max_size=120))
def test_any_other_data_is_refused_in_one_line_or_is_exactly_an_action(data: str) -> None:
    try:
        action = parse(data)
    except UnknownButton as exc:
        assert "\n" not in str(exc) and "nothing was changed" in str(exc)
        return
    # Only the bot's own encodings (or a Telegram button from before the prefix) get through.
    assert encode(action) in (data, PREFIX + data)


@pytest.mark.parametrize("data", [
    "", "gluon:", "gluon:x:1f:0", "gluon:a:1f", "gluon:a:1f:", "gluon:a:1f:01",
    "gluon:a:1F:0", "gluon:a:1f:1000", "gluon:c:1f:maybe", "gluon:s:1f:0", "s:1f",
    "gluon:a:" + "f" * (MAX_ID + 1) + ":0", "approve:7", "ok:1", "gluon:c:../x:y",
    "gluon:m:z:1f", "gluon:m:q", "gluon:m:q:", "m:q:1f", "gluon:m:qr:1f",
])
def test_malformed_or_foreign_button_data_is_refused(data: str) -> None:
    with pytest.raises(UnknownButton, match="not one of mine"):
        parse(data)


def test_telegram_buttons_from_before_the_prefix_still_work() -> None:
    assert parse("a:3f2a9c1e:2") == Answer("3f2a9c1e", 2)
    assert parse("c:0a1b2c3d4e5f:n") == Confirm("0a1b2c3d4e5f", yes=False)


def test_a_merge_button_names_its_verb_and_what_it_acts_on() -> None:
    assert encode(Act(Verb.MERGE, "3f2a9c1e")) == "gluon:m:q:3f2a9c1e"
    assert parse("gluon:m:x:0a1b2c3d") == Act(Verb.CANCEL_MERGE, "0a1b2c3d")


@pytest.mark.parametrize("action", [Answer("not hex", 0), Answer("1f", -1),
                                    Answer("1f", MAX_OPTION + 1), Choose(""),
                                    Confirm("f" * (MAX_ID + 1), yes=True),
                                    Act(Verb.RETRY_MERGE, "run-1")])
def test_an_action_that_cannot_round_trip_is_never_put_on_a_button(
        action: ButtonAction) -> None:
    with pytest.raises(ValueError):
        encode(action)
