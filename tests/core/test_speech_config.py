"""[speech]: off by default, set from the file or the environment, a bad value named in one
line without showing the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_config
from core.errors import ConfigError


def test_speech_is_off_by_default_and_set_from_the_environment(tmp_path: Path) -> None:
    empty = tmp_path / "config.toml"
    empty.write_text("")
    assert not load_config(env={"GLUON_CONFIG": str(empty)}).speech.enabled
    speech = load_config(env={"GLUON_CONFIG": str(empty), "GLUON_SPEECH_ENABLED": "true",
                              "GLUON_SPEECH_BASE_URL": "http://localhost:8880/v1/",
                              "GLUON_SPEECH_API_KEY": "sk-speech-secret"}).speech
    assert speech.enabled and speech.base_url == "http://localhost:8880/v1"
    assert speech.api_key is not None and "sk-speech-secret" not in repr(speech)


def test_a_bad_speech_setting_is_named_in_one_line_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[speech]\nbase_url = "ftp://tts"\n')
    with pytest.raises(ConfigError, match=r"config key 'speech.base_url' .* has value "
                                          r"'ftp://tts': expected an http:// or https:// url"):
        load_config(env={"GLUON_HOME": str(tmp_path)}, path=path)
    path.write_text('[speech]\napi_key = 42\n')
    with pytest.raises(ConfigError, match=r"'speech.api_key' .* has value \*\*\*"):
        load_config(env={"GLUON_HOME": str(tmp_path)}, path=path)
