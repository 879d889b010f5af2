"""Unit tests for common.config.load_settings (get_settings is cached, so it is not used here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.config import LlmProvider, LogFormat, Settings, load_settings
from common.errors import ConfigError
from common.teams import TEAMS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting leaks in from the developer's or CI's environment."""
    names = [*Settings.model_fields, *(v for t in TEAMS for v in (t.port_variable, t.addr_variable))]
    for name in names:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield


def test_defaults() -> None:
    settings = load_settings()
    assert [settings.port_of(s) for s in ("supervisor", "research", "content", "social")] == [
        50051,
        50052,
        50053,
        50054,
    ]
    assert settings.llm_provider is LlmProvider.OFFLINE
    assert settings.log_level == "INFO"
    assert settings.log_format is LogFormat.JSON
    assert settings.knowledge_dir is None
    assert settings.team_addr("research") == "localhost:50052"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPERVISOR_PORT", "6001")
    monkeypatch.setenv("social_addr", "  social.internal:7000  ")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "console")
    monkeypatch.setenv("BREAKER_FAIL_MAX", "7")
    monkeypatch.setenv("KNOWLEDGE_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.supervisor_port == 6001
    assert settings.team_addr("social") == "social.internal:7000"
    assert settings.log_level == "DEBUG"
    assert settings.log_format is LogFormat.CONSOLE
    assert settings.breaker_fail_max == 7
    assert settings.knowledge_dir == tmp_path


def test_keyword_overrides_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISOR_PORT", "6001")
    assert load_settings(supervisor_port=6002).supervisor_port == 6002
    monkeypatch.setenv("RESEARCH_PORT", "6001")
    assert load_settings(research_port=6003).port_of("research") == 6003


def test_every_registered_team_gets_its_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for offset, team in enumerate(TEAMS):
        monkeypatch.setenv(team.port_variable, str(7000 + offset))
        monkeypatch.setenv(team.addr_variable, f"{team.name}.internal:{7000 + offset}")
    settings = load_settings()
    for offset, team in enumerate(TEAMS):
        assert settings.port_of(team.name) == 7000 + offset
        assert settings.team_addr(team.name) == f"{team.name}.internal:{7000 + offset}"
        assert settings.metrics_port_of(team.name) == team.metrics_port


def test_bad_team_port_names_the_team_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIAL_PORT", "70000")
    monkeypatch.setenv("CONTENT_ADDR", "   ")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "SOCIAL_PORT='70000'" in str(info.value)
    assert "CONTENT_ADDR" in str(info.value)


@pytest.mark.parametrize("value", ["abc", "70000", "0", "-1", ""])
def test_bad_port_is_rejected_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SUPERVISOR_PORT", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "SUPERVISOR_PORT" in str(info.value)
    assert "RESEARCH_PORT" not in str(info.value)


def test_every_bad_variable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISOR_PORT", "abc")
    monkeypatch.setenv("TEAM_MAX_STEPS", "1")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "SUPERVISOR_PORT" in str(info.value)
    assert "TEAM_MAX_STEPS" in str(info.value)


def test_unknown_log_level_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "LOG_LEVEL" in str(info.value)


def test_blank_address_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESEARCH_ADDR", "   ")
    with pytest.raises(ConfigError, match="RESEARCH_ADDR"):
        load_settings()


def test_openai_without_credentials_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "OPENAI_API_KEY" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"), [("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", "http://llm:8000/v1")]
)
def test_openai_with_key_or_base_url_is_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv(name, value)
    assert load_settings().llm_provider is LlmProvider.OPENAI


def test_api_key_is_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    assert "sk-very-secret" not in repr(load_settings())


def test_unknown_provider_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "anthropic")
    with pytest.raises(ConfigError, match="LLM_PROVIDER"):
        load_settings()


def test_missing_knowledge_dir_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KNOWLEDGE_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "KNOWLEDGE_DIR" in str(info.value)


def test_knowledge_dir_that_is_a_file_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "notes.md"
    file.write_text("# notes\n")
    monkeypatch.setenv("KNOWLEDGE_DIR", str(file))
    with pytest.raises(ConfigError, match="KNOWLEDGE_DIR"):
        load_settings()


def test_servers_age_connections_out_so_clients_rebalance() -> None:
    from common.server import server_options

    options = dict(server_options(load_settings(grpc_max_connection_age_s=60, team_call_timeout_s=30)))
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert options["grpc.max_connection_age_grace_ms"] == 40_000, "in-flight team calls may finish"
    assert "grpc.max_connection_age_ms" not in dict(
        server_options(load_settings(grpc_max_connection_age_s=0))
    )


# --- model providers: Anthropic, per-role providers, backups, provider breakers --------------------------------------


def test_anthropic_reads_the_sdk_variables_and_defaults_to_a_claude_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://claude.example/")
    settings = load_settings()
    [choice] = settings.model_chain(router=False)
    assert (choice.endpoint.name, choice.model) == ("anthropic", "claude-haiku-4-5")
    assert (choice.endpoint.api_key, choice.endpoint.base_url) == ("sk-ant-secret", "https://claude.example")
    assert "sk-ant-secret" not in repr(settings) and "sk-ant-secret" not in repr(choice)
    assert load_settings(llm_provider="openai", openai_api_key="k").llm_model == "gpt-4o-mini"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"llm_provider": "anthropic"}, "LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL"),
        ({"llm_provider": "anthropic", "anthropic_api_key": "k", "llm_model": "gpt-4o"},
         "LLM_MODEL='gpt-4o' is an OpenAI model"),
        ({"llm_provider": "anthropic", "anthropic_api_key": "k", "llm_router_provider": "openai",
          "openai_api_key": "k"}, "set LLM_ROUTER_MODEL"),
        ({"llm_provider": "anthropic", "anthropic_api_key": "k", "llm_router_provider": "openai",
          "llm_router_model": "gpt-4o-mini"}, "LLM_ROUTER_PROVIDER=openai needs OPENAI_API_KEY or OPENAI_BASE_URL"),
        ({"llm_provider": "openai", "openai_api_key": "k", "llm_backup_provider": "anthropic",
          "anthropic_api_key": "k"}, "set LLM_BACKUP_MODEL to the anthropic model"),
        ({"llm_provider": "openai", "openai_api_key": "k", "llm_backup_provider": "anthropic",
          "llm_backup_model": "claude-haiku-4-5"}, "LLM_BACKUP_PROVIDER=anthropic needs LLM_BACKUP_API_KEY"),
        ({"llm_provider": "anthropic", "anthropic_api_key": "k", "llm_structured_method": "json_mode"},
         "LLM_STRUCTURED_METHOD=json_mode is not offered by anthropic"),
        ({"anthropic_base_url": "claude.example"}, "ANTHROPIC_BASE_URL='claude.example'"),
        ({"llm_breaker_fail_max": 0}, "LLM_BREAKER_FAIL_MAX=0"),
        ({"llm_router_provider": "gemini"}, "LLM_ROUTER_PROVIDER='gemini'"),
    ],
)  # fmt: skip
def test_model_settings_that_cannot_work_are_refused_naming_the_variables(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**values)
    assert message in str(info.value)


def test_routers_may_use_another_provider_than_the_workers() -> None:
    settings = load_settings(
        llm_provider="anthropic", anthropic_api_key="a", llm_model="claude-sonnet-4-5",
        llm_router_provider="openai", openai_api_key="o", llm_router_model="gpt-4o-mini",
        llm_backup_provider="openai", llm_backup_base_url="http://localhost:8000/v1",
        llm_backup_model="qwen2.5:7b",
    )  # fmt: skip
    workers, routers = settings.model_chain(router=False), settings.model_chain(router=True)
    assert [(c.slot, c.endpoint.name, c.model) for c in workers] == [
        ("primary", "anthropic", "claude-sonnet-4-5"), ("backup", "backup", "qwen2.5:7b")]  # fmt: skip
    assert [(c.endpoint.name, c.model) for c in routers] == [
        ("openai", "gpt-4o-mini"),
        ("backup", "qwen2.5:7b"),
    ]
    assert set(settings.llm_endpoints()) == {"anthropic", "openai", "backup"}
    offline_workers = load_settings(llm_router_provider="anthropic", anthropic_api_key="a")
    assert offline_workers.model_chain(router=False) == ()
    assert [c.model for c in offline_workers.model_chain(router=True)] == ["claude-haiku-4-5"]


def test_a_backup_without_its_own_key_shares_its_providers_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BACKUP_ANTHROPIC_API_KEY", "sk-ant-backup")
    settings = load_settings(
        llm_provider="openai",
        openai_api_key="o",
        llm_backup_provider="anthropic",
        llm_backup_model="claude-x",
    )
    assert settings.backup_endpoint() is not None and settings.backup_endpoint().name == "backup"  # type: ignore[union-attr]
    monkeypatch.delenv("LLM_BACKUP_ANTHROPIC_API_KEY")
    shared = load_settings(
        llm_provider="openai", openai_api_key="o", llm_backup_provider="anthropic", llm_backup_model="claude-x",
        anthropic_api_key="sk-ant",
    )  # fmt: skip
    assert shared.backup_endpoint() == shared.endpoint_of(LlmProvider.ANTHROPIC)
