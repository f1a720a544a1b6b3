"""An environment the service cannot run with stops it with one line, never a traceback."""

import json
import subprocess
import sys

import pytest

from app.config import Config, ConfigError
from tests.processes import PROJECT, START_TIMEOUT_S, free_port


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"STATE_URL": "postgres://db/state"},
            "STATE_URL='postgres://db/state' is not a state store URL: use sqlite:/// (a file) or "
            "redis:// (a server); for example STATE_URL=sqlite:///var/state.sqlite3 or "
            "STATE_URL=redis://127.0.0.1:6379/0",
        ),
        ({"STATE_URL": "sqlite://state.db"}, "STATE_URL='sqlite://state.db' names no SQLite file"),
        ({"STATE_URL": "redis://:6379/0"}, "STATE_URL='redis://:6379/0' is not a Redis URL"),
        ({"STATE_URL": "redis://cache:port/0"}, "STATE_URL='redis://cache:port/0' is not a Redis"),
        ({"SYNC_WAIT_S": "soon"}, "SYNC_WAIT_S='soon' is not a number; for example SYNC_WAIT_S=20"),
        (
            {"JOB_THREADS": "2.5"},
            "JOB_THREADS='2.5' is not a whole number; for example JOB_THREADS=100",
        ),
        ({"JOB_THREADS": "0"}, "JOB_THREADS='0' must be at least 1"),
        ({"DEDUP_TTL_S": "-5"}, "DEDUP_TTL_S='-5' is negative; for example DEDUP_TTL_S=604800"),
        ({"TARGET_READ_TIMEOUT_S": "0"}, "TARGET_READ_TIMEOUT_S='0' must be more than 0 seconds"),
        ({"RETRY_BUDGET_S": "inf"}, "RETRY_BUDGET_S='inf' is not a finite number"),
        (
            {"ALLOW_PRIVATE_TARGETS": "maybe"},
            "ALLOW_PRIVATE_TARGETS='maybe' is not true or false; for example "
            "ALLOW_PRIVATE_TARGETS=true",
        ),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud' is not a log level (DEBUG, INFO, WARNING"),
        ({"PUBLIC_URL": "export.example.com"}, "PUBLIC_URL='export.example.com' is not an http(s)"),
        (
            {"ALLOWED_ROSSUM_HOSTS": "*.rossum.app,http://localhost"},
            "ALLOWED_ROSSUM_HOSTS='*.rossum.app,http://localhost' has 'http://localhost', but "
            "plain http is allowed only as http://host:port",
        ),
    ],
)
def test_a_malformed_variable_is_named_with_what_is_wrong_and_an_example(env, message):
    with pytest.raises(ConfigError) as raised:
        Config.from_env(env)

    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "env",
    [
        {"STATE_URL": "sqlite:////var/lib/rest-api-export/state.sqlite3"},
        {"STATE_URL": "redis://127.0.0.1:6379/0"},
        {"STATE_URL": "rediss://:password@cache.example.com:6380/1"},
        {"STATE_URL": "unix:///run/redis/redis.sock"},
        {"ALLOWED_ROSSUM_HOSTS": "*.rossum.app, https://acme.rossum.app,http://localhost:8001"},
        {"SYNC_WAIT_S": "0", "LOG_LEVEL": "debug", "TRUST_PROXY": "1"},
    ],
)
def test_good_values_start(env):
    Config.from_env(env)


def run_until_exit(command: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    """Run a command of the service in a clean environment until it exits (bounded)."""
    (tmp_path / "metrics").mkdir(exist_ok=True)
    environment = {
        "PATH": "/usr/bin:/bin",
        "PORT": str(free_port()),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "STATE_URL": f"sqlite:///{tmp_path}/state.sqlite3",
        **env,
    }
    return subprocess.run(
        command,
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


GUNICORN = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]


def test_gunicorn_stops_with_one_line_on_a_malformed_state_url(tmp_path):
    result = run_until_exit(GUNICORN, tmp_path, STATE_URL="postgres://db/state")

    assert result.returncode == 1
    assert result.stderr.startswith(  # before any worker starts: nothing else is logged
        "rest-api-export cannot start: STATE_URL='postgres://db/state' is not a state store URL"
    )
    assert result.stderr.count("\n") == 1


def test_gunicorn_stops_with_one_line_on_a_malformed_thread_count(tmp_path):
    result = run_until_exit(GUNICORN, tmp_path, GUNICORN_THREADS="many")

    assert result.returncode == 1
    assert result.stderr == (
        "rest-api-export cannot start: GUNICORN_THREADS='many' is not a whole number of at "
        "least 1; for example GUNICORN_THREADS=8\n"
    )


def test_the_cli_stops_with_one_line_on_a_malformed_variable(tmp_path):
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({}))
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "preview", str(payload)]

    result = run_until_exit(flask, tmp_path, LOG_LEVEL="loud")

    assert result.returncode != 0
    assert result.stderr == (
        "rest-api-export cannot start: LOG_LEVEL='loud' is not a log level (DEBUG, INFO, "
        "WARNING, ERROR, CRITICAL); for example LOG_LEVEL=INFO\n"
    )
