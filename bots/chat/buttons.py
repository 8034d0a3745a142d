"""A button's action as the short string a platform carries back when it is pressed.

Telegram returns a button's ``callback_data`` (at most 64 bytes), Discord a component's
``custom_id`` (at most 100 characters). Both adapters write and read them here, in one format:

    gluon:a:<interaction>:<option>   answer a question with its option number <option>
    gluon:s:<interaction>            a menu of a question's options
    gluon:c:<confirmation>:y|n       confirm or drop a held destructive call
    gluon:m:<verb>:<id>              a merge-queue action (see ``Verb``) on a run or an entry
    gluon:v:<note>                   transcribe a kept voice note again

Ids are lowercase hex. Telegram buttons sent before this format had no ``gluon:`` prefix
(``a:…``, ``c:…``); they are still understood, so buttons already on screen keep working.
Anything else is refused with a one-line message and changes nothing.
"""

from __future__ import annotations

import re

from bots.chat.types import Act, Answer, ButtonAction, Choose, Confirm, Retranscribe, Verb
from core.errors import UserError

PREFIX = "gluon:"
TELEGRAM_LIMIT = 64  # bytes of callback_data
DISCORD_LIMIT = 100  # characters of custom_id
MAX_ID = 32  # hex digits of an id in a button
MAX_OPTION = 999

_ID = rf"[0-9a-f]{{1,{MAX_ID}}}"
_FORMS = {
    "a": re.compile(rf"a:(?P<id>{_ID}):(?P<option>0|[1-9]\d{{0,2}})"),
    "s": re.compile(rf"s:(?P<id>{_ID})"),
    "c": re.compile(rf"c:(?P<id>{_ID}):(?P<yes>[yn])"),
    "m": re.compile(rf"m:(?P<verb>[{''.join(Verb)}]):(?P<id>{_ID})"),
    "v": re.compile(rf"v:(?P<id>{_ID})"),
}
_LEGACY = ("a", "c")  # the Telegram forms without the prefix


class UnknownButton(UserError):
    """Button data this bot did not make (another bot's, or damaged)."""


def encode(action: ButtonAction) -> str:
    """The string for a button that does `action`; it fits both platforms' limits."""
    match action:
        case Answer(interaction_id, option):
            if not 0 <= option <= MAX_OPTION:
                raise ValueError(f"option {option!r} is not between 0 and {MAX_OPTION}")
            data = f"{PREFIX}a:{_checked(interaction_id)}:{option}"
        case Choose(interaction_id):
            data = f"{PREFIX}s:{_checked(interaction_id)}"
        case Confirm(confirmation_id, yes):
            data = f"{PREFIX}c:{_checked(confirmation_id)}:{'y' if yes else 'n'}"
        case Act(verb, target):
            data = f"{PREFIX}m:{Verb(verb).value}:{_checked(target)}"
        case Retranscribe(note_id):
            data = f"{PREFIX}v:{_checked(note_id)}"
    assert len(data.encode()) <= TELEGRAM_LIMIT and len(data) <= DISCORD_LIMIT, data
    return data


def parse(data: str) -> ButtonAction:
    """The action of a pressed button's string; `UnknownButton` when it is not one of ours."""
    body = data.removeprefix(PREFIX)
    kind = body[:1]
    form = _FORMS.get(kind) if body != data or kind in _LEGACY else None
    found = form.fullmatch(body) if form is not None else None
    if found is None:
        raise UnknownButton("This button is not one of mine (or is from an older version); "
                            "nothing was changed.")
    if kind == "a":
        return Answer(found["id"], int(found["option"]))
    if kind == "s":
        return Choose(found["id"])
    if kind == "m":
        return Act(Verb(found["verb"]), found["id"])
    if kind == "v":
        return Retranscribe(found["id"])
    return Confirm(found["id"], found["yes"] == "y")


def _checked(id_: str) -> str:
    if not re.fullmatch(_ID, id_):
        raise ValueError(f"id {id_!r} is not 1 to {MAX_ID} lowercase hex digits")
    return id_
