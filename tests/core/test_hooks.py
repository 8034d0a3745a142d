"""The pure parts of webhooks: signatures, prompt templates, trigger words and repositories."""

from __future__ import annotations

import pytest

from core.config import Config
from core.errors import InvalidInput
from core.github.repos import repo_of_url
from core.github.triggers import relevant, trigger_pattern
from core.hooks.signature import same_token, sign, verify
from core.hooks.template import placeholders, render


def test_signatures_are_githubs_and_anything_else_is_refused() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(secret, body) == good and verify(secret, body, good)
    for bad in (None, "", good.upper(), good[:-1] + "0", "sha1=" + good[7:]):
        assert not verify(secret, body, bad)
    assert not verify(secret, body + b" ", good) and not verify("", body, good)
    assert same_token("tok", " tok ") and not same_token("tok", "tok2")
    assert not same_token("tok", None)


def test_templates_fill_dotted_paths_and_name_a_missing_field() -> None:
    body = {"event": {"title": "Boom", "tags": ["a", {"k": 1}]}, "n": 3}
    assert render("{event.title} #{n} {event.tags.1} {{literal}}", body) == (
        'Boom #3 {"k": 1} {literal}')
    assert placeholders("{a.b} and { c }") == ["a.b", "c"]
    with pytest.raises(InvalidInput, match="no field 'event.level'"):
        render("{event.level}", body)
    with pytest.raises(InvalidInput, match="empty placeholder"):
        render("{}", body)


@pytest.mark.parametrize(("url", "repo"), [
    ("https://github.com/octo/api.git", "octo/api"),
    ("git@github.com:octo/api.git", "octo/api"),
    ("ssh://git@ghe.example.com/octo/api/", "octo/api"),
    ("https://token@github.com/Octo/API", "Octo/API"),
    ("/srv/git/api.git", None),
    ("file:///srv/git/octo/api.git", None),
    ("https://github.com/octo", None),
])
def test_a_projects_repository_is_read_from_its_origin_url(url: str, repo: str | None) -> None:
    assert repo_of_url(url) == repo


def test_the_trigger_word_is_matched_as_a_word_in_any_case() -> None:
    found = trigger_pattern("@gluon")
    assert found.search("hey @Gluon, fix it") and found.search("@gluon")
    assert not found.search("@gluonbot fix") and not found.search("me@gluon.dev")
    config = Config()
    comment = {"action": "created", "comment": {"body": "@gluon go"}}
    assert relevant("issue_comment", comment, config) is None
    assert relevant("issue_comment", {**comment, "action": "edited"}, config)
    assert relevant("issue_comment", {"action": "created", "comment": {
        "body": "<!-- gluon:run:abc --> @gluon"}}, config)  # Gluon's own comment
    assert relevant("push", {}, config) == "Gluon does not act on push events"
    assert relevant("check_run", {"action": "completed",
                                  "check_run": {"conclusion": "failure"}}, config) is None
    assert relevant("check_run", {"action": "completed",
                                  "check_run": {"conclusion": "success"}}, config)
