import pytest

from chalicelib.core.settings import SettingsError, load_settings
from tests.conftest import stage_environment


def test_local_stage_has_the_demo_site_as_default_allowing_the_local_origins():
    settings = load_settings(stage_environment("local"))
    assert settings.default_site_id == "demo"
    assert settings.sites["demo"].allows_origin("http://127.0.0.1:8000")
    assert settings.sites["demo"].allows_origin("http://localhost:8000/")
    assert not settings.sites["demo"].allows_origin("https://evil.example")
    assert settings.events_table == "LiveInsight-local-Events"
    assert settings.metrics_environment == "local"


def deployed(stage: str) -> dict[str, str]:
    """A deploy stage's environment once Terraform has filled in its variables."""
    env = stage_environment(stage)
    assert env["LIVEINSIGHT_SITES"] == "${var.sites_json}" and env["LIVEINSIGHT_API_TOKEN"] == "${var.api_token}"
    return {**env, "LIVEINSIGHT_SITES": '{"default": {"origins": ["https://www.example.com"]}}',
            "LIVEINSIGHT_DEFAULT_SITE": "default", "LIVEINSIGHT_API_TOKEN": "secret"}


def test_prod_uses_the_guides_names():
    settings = load_settings(deployed("prod"))
    assert settings.events_table == "LiveInsight-Events"
    assert settings.metrics_environment == "Production"
    assert settings.event_retention_days == 400


def test_dev_sits_beside_prod_without_clashing():
    assert load_settings(deployed("dev")).events_table == "LiveInsight-dev-Events"


def test_wildcard_origin():
    settings = load_settings({"LIVEINSIGHT_STAGE": "x", "LIVEINSIGHT_SITES": '{"a": {"origins": ["*"]}}'})
    assert settings.default_site_id == "a" and settings.sites["a"].allows_origin("https://any.example")


@pytest.mark.parametrize("env, message", [
    ({}, "LIVEINSIGHT_STAGE"),
    ({"LIVEINSIGHT_STAGE": "x", "LIVEINSIGHT_SITES": "{"}, "not valid JSON"),
    ({"LIVEINSIGHT_STAGE": "x", "LIVEINSIGHT_SITES": '{"Bad Site": {}}'}, "Bad Site"),
    ({"LIVEINSIGHT_STAGE": "x", "LIVEINSIGHT_SITES": '{"a": {"origins": ["https://a.example/path"]}}'}, "a.origins"),
    ({"LIVEINSIGHT_STAGE": "x", "LIVEINSIGHT_SITES": '{"a": {}, "b": {}}'}, "LIVEINSIGHT_DEFAULT_SITE"),
    ({"LIVEINSIGHT_STAGE": "x", "LIVEINSIGHT_EVENT_RETENTION_DAYS": "soon"}, "LIVEINSIGHT_EVENT_RETENTION_DAYS"),
    ({"LIVEINSIGHT_STAGE": "x", "LIVEINSIGHT_EVENT_RETENTION_DAYS": "0"}, "positive"),
])
def test_bad_settings_fail_loudly_and_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)
