"""Which source workers use for a project, the settings that choose it, and the check of a
push's ref updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cluster.transfer.pushes import (
    MalformedPush,
    RefUpdate,
    pkt_line,
    read_commands,
    refusal,
    refused,
)
from core.cluster.transfer.source import Source, source_for, token_env
from core.config import Config, load_config
from core.errors import ConfigError, Conflict, InvalidInput
from core.models import Project
from core.types import ProjectName
from tests.conftest import git

COORDINATOR = "https://gluon.example.com"
TOKEN = "0123456789abcdef0123"


def config(**cluster: object) -> Config:
    return Config.model_validate({"cluster": cluster,
                                  "projects": {"pinned": {"remote": "https://x:pw@h/p.git"}}})


def project(name: str, path: Path) -> Project:
    return Project(name=ProjectName(name), path=str(path), created_at=0.0)


async def test_workers_use_the_remote_setting_else_a_network_origin_else_the_coordinator(
        user_repo: Path) -> None:
    with_token = config(token=TOKEN)
    # [projects.pinned] remote wins; its credentials never travel in a job.
    assert await source_for(with_token, project("pinned", user_repo), COORDINATOR) == \
        Source("https://h/p.git")
    # origin is a path of this host: only the coordinator can serve the project.
    assert await source_for(with_token, project("demo", user_repo), COORDINATOR) == \
        Source("https://gluon.example.com/git/demo.git", coordinator=True)
    git(user_repo, "remote", "set-url", "origin", "git@github.com:acme/demo.git")
    assert await source_for(with_token, project("demo", user_repo), COORDINATOR) == \
        Source("git@github.com:acme/demo.git")
    git(user_repo, "remote", "set-url", "origin", "https://tok@github.com/acme/demo.git")
    assert await source_for(config(), project("demo", user_repo), COORDINATOR) == \
        Source("https://github.com/acme/demo.git")


async def test_a_local_project_without_a_cluster_token_cannot_go_to_workers(
        user_repo: Path) -> None:
    with pytest.raises(Conflict) as refused_:
        await source_for(config(), project("demo", user_repo), COORDINATOR)
    assert "set [projects.demo] remote" in str(refused_.value)
    assert "GLUON_CLUSTER_TOKEN" in str(refused_.value)


def test_the_token_goes_to_the_coordinator_only_and_never_by_redirect() -> None:
    served = Source(f"{COORDINATOR}/git/demo.git", coordinator=True)
    env = token_env(served, TOKEN)
    assert env["GIT_CONFIG_VALUE_0"] == f"X-Gluon-Cluster-Token: {TOKEN}"
    assert env["GIT_CONFIG_KEY_1"] == "http.followRedirects"
    assert token_env(Source("https://github.com/acme/demo.git"), TOKEN) == {}
    assert Source.from_payload(served.payload()) == served
    with pytest.raises(InvalidInput):
        Source.from_payload({"url": "--upload-pack=evil"})


def test_a_short_cluster_token_or_a_bad_remote_stops_gluon_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as short:
        load_config(env={"GLUON_HOME": str(tmp_path), "GLUON_CLUSTER_TOKEN": "abc"})
    assert "cluster.token" in str(short.value) and "abc" not in str(short.value)
    assert "at least 16 characters" in str(short.value)
    (tmp_path / "config.toml").write_text('[projects.api]\nremote = "--upload-pack=x"\n')
    with pytest.raises(ConfigError, match="projects.api.remote"):
        load_config(env={"GLUON_HOME": str(tmp_path)})
    token = load_config(env={"GLUON_HOME": str(tmp_path / "x"), "GLUON_CLUSTER_TOKEN": TOKEN})
    assert token.cluster.token is not None and token.cluster.token.get_secret_value() == TOKEN


OLD, NEW = "0" * 40, "1" * 40


def push_request(*refs: str) -> bytes:
    lines = [f"{OLD} {NEW} {ref}".encode() for ref in refs]
    lines[0] += b"\0report-status side-band-64k agent=git/2.39"
    return b"".join(pkt_line(line + b"\n") for line in lines) + b"0000PACK..."


def test_a_push_is_read_up_to_its_ref_updates_even_in_pieces() -> None:
    data = push_request("refs/heads/gluon/a1", "refs/heads/gluon/b2")
    assert read_commands(data[:30]) is None
    commands = read_commands(data)
    assert commands is not None
    assert commands.updates == [RefUpdate(OLD, NEW, "refs/heads/gluon/a1"),
                                RefUpdate(OLD, NEW, "refs/heads/gluon/b2")]
    assert {"report-status", "side-band-64k"} <= commands.capabilities
    assert data[commands.size:] == b"PACK..."
    with pytest.raises(MalformedPush):
        read_commands(b"zzzz")


def test_a_push_touching_a_users_branch_is_refused_whole() -> None:
    updates = [RefUpdate(OLD, NEW, "refs/heads/gluon/a1"), RefUpdate(OLD, NEW, "refs/heads/main")]
    assert refused(updates[:1]) == {}
    reasons = refused(updates)
    assert reasons == {"refs/heads/gluon/a1": "another ref of this push was refused",
                       "refs/heads/main": "Gluon workers may push only refs/heads/gluon/*"}
    plain = refusal(reasons, frozenset({"report-status"}))
    assert plain.startswith(pkt_line(b"unpack ok\n")) and plain.endswith(b"0000")
    banded = refusal(reasons, frozenset({"report-status", "side-band-64k"}))
    assert banded == pkt_line(b"\x01" + plain) + b"0000"
