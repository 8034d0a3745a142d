"""core.config: defaults, the TOML file, environment overrides and the messages of bad config.

Every test passes ``env=`` explicitly, so the machine's environment and ``~/.gluon`` never leak
in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Config, load_config, resolve_model
from core.errors import ConfigError, InvalidInput

SECRET = "123456:VERY-SECRET-TOKEN"


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def config_error(tmp_path: Path, toml: str, env: dict[str, str] | None = None) -> str:
    path = write_toml(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GLUON_HOME": str(tmp_path / "home"), **(env or {})}, path=path)
    message = str(caught.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


# -- where values come from ------------------------------------------------------------------------


def test_without_a_file_or_environment_every_setting_has_its_documented_default(
        tmp_path: Path) -> None:
    empty = write_toml(tmp_path, "")
    cfg = load_config(env={"GLUON_CONFIG": str(empty)})
    assert cfg.home == Path("~/.gluon").expanduser().absolute()
    assert cfg.db_path == cfg.home / "gluon.db"
    assert cfg.agents.default_model == "sonnet"
    assert cfg.agents.max_concurrent == 4
    assert cfg.agents.max_concurrent_per_project == 2
    assert cfg.agents.recovery == "resume"
    assert cfg.agents.permission_mode == "acceptEdits"
    assert cfg.agents.run_budget_usd is None and cfg.agents.daily_budget_usd is None
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 8765)
    assert cfg.telegram.token is None and cfg.telegram.users == []
    assert cfg.discord.token is None and cfg.anthropic.api_key is None
    assert cfg.projects == {}
    assert cfg.project("anything").trusted is False


def test_the_example_config_shipped_with_gluon_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    cfg = load_config(env={"GLUON_HOME": str(tmp_path)}, path=example)
    assert cfg.agents.max_concurrent >= 1


def test_the_toml_file_sets_values_and_environment_variables_override_it(
        tmp_path: Path) -> None:
    path = write_toml(tmp_path, """
[agents]
max_concurrent = 3
default_model = "opus"

[telegram]
users = [1, 2]

[projects.api]
max_concurrent = 1
trusted = true
""")
    cfg = load_config(env={"GLUON_CONFIG": str(path), "GLUON_AGENTS_MAX_CONCURRENT": "8",
                           "GLUON_TELEGRAM_USERS": "123, 456,789,",
                           "GLUON_HOME": str(tmp_path / "data"),
                           "ANTHROPIC_API_KEY": "sk-ant-from-env",
                           "ANTHROPIC_BASE_URL": "http://gateway.local:8080"})
    assert cfg.agents.max_concurrent == 8
    assert cfg.agents.default_model == "opus"  # from the file, not overridden
    assert cfg.telegram.users == [123, 456, 789]
    assert cfg.home == tmp_path / "data"
    assert cfg.worktrees_dir == tmp_path / "data" / "worktrees"
    assert cfg.anthropic.api_key is not None
    assert cfg.anthropic.api_key.get_secret_value() == "sk-ant-from-env"
    assert cfg.anthropic.base_url == "http://gateway.local:8080"
    assert cfg.project("api").max_concurrent == 1 and cfg.project("api").trusted


def test_tokens_come_from_the_environment_and_are_hidden_when_printed(tmp_path: Path) -> None:
    cfg = load_config(env={"GLUON_HOME": str(tmp_path), "GLUON_TELEGRAM_TOKEN": SECRET,
                           "GLUON_DISCORD_TOKEN": SECRET, "GLUON_DISCORD_GUILD": "42,43",
                           "GLUON_SERVER_TOKEN": SECRET, "GLUON_SERVER_PORT": "9000"})
    assert cfg.telegram.token is not None and cfg.telegram.token.get_secret_value() == SECRET
    assert cfg.discord.guild == [42, 43] and cfg.server.port == 9000
    assert SECRET not in repr(cfg) and SECRET not in str(cfg)


def test_the_config_file_in_gluon_home_is_read_when_gluon_config_is_not_set(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[agents]\nmax_concurrent_per_project = 7\n")
    cfg = load_config(env={"GLUON_HOME": str(home)})
    assert cfg.agents.max_concurrent_per_project == 7
    assert cfg.home == home


def test_gluon_config_pointing_at_a_missing_file_says_so_and_how_to_fix_it(
        tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "gluon.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GLUON_CONFIG": str(missing)})
    message = str(caught.value)
    assert str(missing) in message and "does not exist" in message
    assert "GLUON_CONFIG" in message and "\n" not in message


def test_a_file_that_is_not_toml_is_reported_with_its_path_and_the_position(
        tmp_path: Path) -> None:
    message = config_error(tmp_path, "[agents]\nmax_concurrent = = 3\n")
    assert str(tmp_path / "config.toml") in message
    assert "not valid TOML" in message and "line 2" in message


# -- bad values ------------------------------------------------------------------------------------


def test_a_bad_value_names_the_key_the_value_and_what_is_expected(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[agents]\nmax_concurrent = 0\n")
    assert "'agents.max_concurrent'" in message
    assert "value 0" in message
    assert "greater than or equal to 1" in message
    assert str(tmp_path / "config.toml") in message


def test_a_value_outside_a_fixed_set_lists_the_allowed_choices(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[agents]\nrecovery = "maybe"\n')
    assert "'agents.recovery'" in message and "'maybe'" in message
    assert "'resume'" in message and "'ask'" in message


def test_an_unknown_key_is_named_with_the_keys_that_are_known_there(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[agents]\nmax_concurent = 5\n")
    assert "unknown config key 'agents.max_concurent'" in message
    assert "max_concurrent" in message.split("known keys there:")[1]


def test_a_bad_environment_value_names_the_key_it_overrides(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GLUON_HOME": str(tmp_path), "GLUON_TELEGRAM_USERS": "123,alice"})
    message = str(caught.value)
    assert "telegram.users" in message and "'alice'" in message
    assert "integer" in message


def test_a_bad_default_model_fails_at_start_not_when_the_first_run_starts(
        tmp_path: Path) -> None:
    message = config_error(tmp_path, '[agents]\ndefault_model = "gpt-4o"\n')
    assert "'agents.default_model'" in message and "'gpt-4o'" in message
    assert "opus" in message


@pytest.mark.parametrize(("toml", "secret_key"), [
    (f'[telegram]\ntoken = "{SECRET}"\nusers = ["alice"]\n', "telegram.users"),
    (f'[server]\ntoken = {{ value = "{SECRET}" }}\n', "server.token"),
    (f'[anthropic]\napi_key = ["{SECRET}"]\n', "anthropic.api_key"),
    (f'[cluster]\npassword = ["{SECRET}"]\n', "cluster.password"),
])
def test_a_secret_is_never_shown_in_an_error_message(tmp_path: Path, toml: str,
                                                     secret_key: str) -> None:
    message = config_error(tmp_path, toml)
    assert secret_key in message
    assert SECRET not in message and "VERY-SECRET" not in message


def test_a_token_in_a_misspelt_environment_variable_is_not_shown_in_the_error(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GLUON_HOME": str(tmp_path), "GLUON_TELEGRAM_TOKN": SECRET})
    assert "telegram.tokn" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_token_under_a_misspelt_section_is_not_shown_in_the_error(tmp_path: Path) -> None:
    message = config_error(tmp_path, f'[telegarm]\ntoken = "{SECRET}"\n')
    assert "'telegarm'" in message
    assert SECRET not in message


def test_with_a_redis_url_runs_execute_on_workers_unless_run_on_says_here(
        tmp_path: Path) -> None:
    home = {"GLUON_HOME": str(tmp_path)}
    assert load_config(env=home).cluster.remote is False
    on_workers = load_config(env={**home, "GLUON_CLUSTER_REDIS_URL": "redis://r:6379/0",
                                  "GLUON_CLUSTER_PASSWORD": SECRET,
                                  "GLUON_WORKER_PROJECTS": "api,web",
                                  "GLUON_WORKER_MAX_RUNS": "3"})
    assert on_workers.cluster.remote and on_workers.cluster.lease_seconds == 15
    assert on_workers.worker.projects == ["api", "web"] and on_workers.worker.max_runs == 3
    assert SECRET not in repr(on_workers.cluster)
    here = load_config(env={**home, "GLUON_CLUSTER_REDIS_URL": "redis://r:6379/0",
                            "GLUON_CLUSTER_RUN_ON": "here"})
    assert here.cluster.remote is False
    message = config_error(tmp_path, '[worker]\nname = "no spaces please"\n')
    assert "'worker.name'" in message


# -- models ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["opus", "sonnet", "haiku"])
def test_a_model_alias_is_passed_through_as_it_is(alias: str) -> None:
    assert resolve_model(alias, "sonnet") == alias


@pytest.mark.parametrize("model_id", ["claude-sonnet-4-5", "claude-opus-4-1-20250805",
                                      "claude-3-5-haiku@20241022"])
def test_a_full_model_id_is_accepted(model_id: str) -> None:
    assert resolve_model(f"  {model_id} ", "sonnet") == model_id


def test_no_model_means_the_configured_default() -> None:
    assert resolve_model(None, "haiku") == "haiku"
    assert resolve_model("", "opus") == "opus"


@pytest.mark.parametrize(("given", "model"), [("Opus", "opus"), ("SONNET", "sonnet"),
                                             (" Haiku ", "haiku"),
                                             ("Claude-Sonnet-4-5", "claude-sonnet-4-5")])
def test_a_model_is_recognised_in_any_case(given: str, model: str) -> None:
    assert resolve_model(given, "sonnet") == model


@pytest.mark.parametrize("junk", ["gpt-4o", "Opuss", "claude sonnet", "sonnet; rm -rf /",
                                  "claude-x$(id)"])
def test_an_unknown_model_is_refused_with_the_valid_choices(junk: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve_model(junk, "sonnet")
    message = str(caught.value)
    assert repr(junk.strip()) in message
    assert all(choice in message for choice in ("opus", "sonnet", "haiku", "full model id"))


def test_config_can_be_built_directly_and_is_immutable(tmp_path: Path) -> None:
    cfg = Config.model_validate({"home": str(tmp_path), "agents": {"max_concurrent": 2}})
    assert cfg.agents.max_concurrent == 2
    with pytest.raises(ValueError):
        cfg.agents.max_concurrent = 3


def test_github_reads_its_token_from_gh_token_and_maps_logins_to_chat_users(
        tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[github]\nwebhook_secret = "w-secret"\n'
                                'api_url = "https://ghe.example.com/api/v3/"\n'
                                'users = { octocat = "telegram:42" }\n'
                                '[hooks.sentry]\nproject = "api"\nsecret = "h-secret"\n'
                                'prompt = "{event.title}"\n')
    config = load_config(env={"GLUON_HOME": str(tmp_path), "GH_TOKEN": "ghp_from_env"},
                         path=path)
    assert config.github.token is not None
    assert config.github.token.get_secret_value() == "ghp_from_env"
    assert config.github.api_url == "https://ghe.example.com/api/v3"
    assert (config.github.trigger, config.github.label) == ("@gluon", "gluon")
    assert config.github.users == {"octocat": "telegram:42"}
    assert config.hooks["sentry"].auth == "hmac"
    assert "w-secret" not in repr(config) and "h-secret" not in repr(config)


def test_bad_github_and_hook_settings_are_named_and_secrets_never_shown(
        tmp_path: Path) -> None:
    assert config_error(tmp_path, '[github]\nusers = { octocat = "42" }\n') == (
        f"config key 'github.users' in {str(tmp_path / 'config.toml')!r} has value "
        "{'octocat': '42'}: 'octocat' maps to '42'; expected a chat user such as "
        "'telegram:42' or 'discord:1234'")
    message = config_error(tmp_path, '[hooks.github]\nproject = "a"\nsecret = "s-e-c"\n'
                                     'prompt = "x"\n')
    assert "'github' is the github endpoint" in message and "s-e-c" not in message
    message = config_error(tmp_path, '[github]\nwebhook_secret = 12345\n')
    assert "github.webhook_secret" in message and "12345" not in message
