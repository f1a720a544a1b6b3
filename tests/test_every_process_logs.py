"""Every process the service runs logs, redacts and counts the same way (SPEC §9, §10)."""

import json
import subprocess
import sys

from tests.builders import SECRETS, build_payload, simple_settings
from tests.processes import PROJECT


def test_the_export_command_logs_the_export_line_with_secrets_masked(tmp_path, fake_rossum, target):
    settings = simple_settings(f"{target.url}/in", headers={"X-Key": "{secret.client_secret}"})
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(build_payload(settings, base_url=fake_rossum.url)))
    env = {
        "STATE_URL": f"sqlite:///{tmp_path}/state.sqlite3",
        "ALLOWED_ROSSUM_HOSTS": f"http://{fake_rossum.url.removeprefix('http://')}",
        "ALLOW_PRIVATE_TARGETS": "true",
        "LOG_LEVEL": "DEBUG",
        "PATH": "/usr/bin:/bin",
    }

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "export", str(payload_file)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if '"event": "export"' in line]
    assert len(lines) == 1 and " INFO app.pipeline: " in lines[0]
    assert json.loads(lines[0].split(": ", 1)[1])["outcome"] == "success"
    assert target.requests[0].headers["X-Key"] == SECRETS["client_secret"]
    assert SECRETS["client_secret"] not in result.stderr
