"""A command finds the data dir and the daemon's token the way the full configuration does,
without loading it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.owner import NeedsFullConfig, where
from core.config import load_config
from core.errors import ConfigError


@pytest.mark.parametrize(("toml", "env"), [
    ("", {}),
    ("", {"GLUON_HOME": "{tmp}/env-home"}),
    ('home = "{tmp}/file-home"\n', {}),
    ('home = "{tmp}/file-home"\n', {"GLUON_HOME": "{tmp}/env-home"}),
    ('home = "~/relative/home"\n[server]\ntoken = "from-file"\n', {}),
    ('[server]\ntoken = "from-file"\n', {"GLUON_SERVER_TOKEN": "from-env"}),
    ('[server]\nport = 9000\n', {"GLUON_SERVER_TOKEN": "from-env"}),
])
def test_the_data_dir_and_token_are_the_ones_the_configuration_gives(
        tmp_path: Path, toml: str, env: dict[str, str]) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(toml.replace("{tmp}", str(tmp_path)))
    environ = {"HOME": str(tmp_path), "GLUON_CONFIG": str(config_file),
               **{k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(tmp_path))  # for ~ in the paths
        full = load_config(environ)
        light = where(environ)
    assert light.home == full.home
    expected = full.server.token.get_secret_value() if full.server.token else None
    assert light.configured_token == expected


def test_a_config_file_it_cannot_read_is_left_to_the_full_loader_to_explain(
        tmp_path: Path) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("home = [unclosed\n")
    environ = {"GLUON_CONFIG": str(broken)}
    with pytest.raises(NeedsFullConfig):
        where(environ)
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(environ)
