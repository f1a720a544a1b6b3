"""The service as deployed: gunicorn with several workers, metrics summed across them."""

import re

import requests

from tests.builders import build_payload, simple_settings


def exports_counted(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    pattern = r'^rest_api_export_exports_total\{outcome="success"\} (\S+)$'
    return float(re.search(pattern, text, re.MULTILINE)[1])


def test_metrics_are_summed_over_every_worker(processes, tmp_path, fake_rossum, target):
    url = processes.gunicorn(
        WEB_CONCURRENCY=2,
        GUNICORN_THREADS=2,
        STATE_URL=f"sqlite:///{tmp_path}/state.sqlite3",
        ALLOWED_ROSSUM_HOSTS=f"http://{fake_rossum.url.removeprefix('http://')}",
        ALLOW_PRIVATE_TARGETS="true",
    )
    for n in range(6):
        payload = build_payload(simple_settings(f"{target.url}/in/{n}"), base_url=fake_rossum.url)
        answer = requests.post(url, json=payload, timeout=30).json()
        assert answer["messages"][0]["type"] == "info", answer

    scrapes = [exports_counted(url) for _ in range(6)]

    assert scrapes == [6.0] * 6
    assert len(target.requests) == 6
