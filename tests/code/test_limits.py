"""The service's limits come from `serve:` in params.yaml, checked, and overridable."""

import logging

import pytest
import yaml

from churn.delivery import serve
from churn.delivery.limits import Limits
from conftest import ROOT


def test_params_yaml_states_the_defaults() -> None:
    # The committed settings are the defaults the code falls back on, so the
    # comments in params.yaml and the docs describe what runs without them.
    section = yaml.safe_load((ROOT / "params.yaml").read_text())["serve"]
    assert Limits.from_settings(section) == Limits()
    assert set(section) == {f for f in Limits.__dataclass_fields__} | {"max_batch"}


def test_overrides_win_and_are_read_as_numbers() -> None:
    limits = Limits.from_settings(
        {"max_errors": 5}, ["max_errors=7", "body_timeout=2.5", " header_timeout = 3 "]
    )
    assert (limits.max_errors, limits.body_timeout, limits.header_timeout) == (
        7,
        2.5,
        3,
    )
    assert Limits.from_settings(None) == Limits()


@pytest.mark.parametrize(
    ("serve_section", "overrides", "message"),
    [
        ({"max_body_byte": 10}, [], "unknown serve setting(s) max_body_byte"),
        ({}, ["nope=1"], "unknown serve setting(s) nope"),
        ({}, ["max_errors"], "write KEY=VALUE"),
        ({}, ["max_errors=many"], "not a number"),
        ({"max_errors": 0}, [], "serve.max_errors must be an integer above 0"),
        ({"max_errors": 2.5}, [], "serve.max_errors must be an integer"),
        ({"max_depth": True}, [], "serve.max_depth must be an integer"),
        ({"body_timeout": -1}, [], "serve.body_timeout must be a number above 0"),
        ({"body_timeout": "30"}, [], "serve.body_timeout must be a number"),
    ],
)
def test_a_wrong_setting_is_refused_by_name(
    serve_section: dict, overrides: list[str], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        Limits.from_settings(serve_section, overrides)
    assert message in str(info.value)


def test_uvicorn_gets_the_limits_it_enforces_itself() -> None:
    options = Limits(keep_alive_timeout=3, shutdown_timeout=4).uvicorn_options()
    assert options["timeout_keep_alive"] == 3
    assert options["timeout_graceful_shutdown"] == 4
    # The concurrency limit is the protocol's (a JSON 503), not uvicorn's (text).
    assert options["limit_concurrency"] is None


def test_serve_refuses_a_wrong_override(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert serve.main(["--package", "unused", "-S", "max_depth=0"]) == 1
    assert "serve.max_depth must be an integer above 0" in caplog.text
