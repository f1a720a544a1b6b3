"""Sending to the target: each way it can fail is named by host and cause, never by URL."""

import pytest
import requests
import responses

from app.errors import TargetError
from app.pipeline.delivery import Delivery, OutgoingRequest
from app.pipeline.retries import RetryPolicy
from tests.builders import build_payload, simple_settings

URL = "https://erp.example.com/api?key=s3cr3t"


@pytest.mark.parametrize(
    ("failure", "described"),
    [
        (requests.ConnectTimeout(), "could not connect within 2 s"),
        (
            requests.ReadTimeout(),
            "no answer within 7.5 s after the request was sent; "
            "the target may already hold the export",
        ),
        (requests.exceptions.SSLError(), "TLS error (check the target's certificate)"),
        (requests.ConnectionError(ConnectionRefusedError(111, "refused")), "connection refused"),
        (requests.exceptions.InvalidURL(), "the URL is not valid"),
    ],
)
def test_failures_are_described_by_host_and_cause(failure, described):
    policy = RetryPolicy(
        retry=False,
        resend_allowed=False,
        connect_timeout=2,
        read_timeout=7.5,
        budget_s=1,
        backoff_s=0,
    )
    with responses.RequestsMock() as mock:
        mock.post(URL, body=failure)
        with pytest.raises(TargetError) as raised:
            Delivery(requests.Session, 1024).send(OutgoingRequest("POST", URL), policy)

    assert str(raised.value) == f"POST erp.example.com failed: {described}"


def test_a_slow_target_times_out_with_a_message_naming_the_wait(make_app, fake_rossum, target):
    client = make_app(TARGET_READ_TIMEOUT_S=0.3).test_client()
    target.reply_with(200, delay_s=3)  # seconds past the timeout, however busy
    payload = build_payload(simple_settings(f"{target.url}/slow"), base_url=fake_rossum.url)

    answer = client.post("/", json=payload).json

    host = target.url.removeprefix("http://")
    assert answer["messages"] == [
        {
            "type": "error",
            "content": f"Export failed (target): POST {host} failed: no answer within 0.3 s "
            "after the request was sent; the target may already hold the export",
        }
    ]
