"""Only export actions export (SPEC §3): every other event or action sends nothing."""

import logging

import pytest

from tests.builders import simple_settings


@pytest.mark.parametrize(
    ("event", "action", "status", "logged"),
    [
        ("annotation_content", "updated", "exporting", "annotation_content updated"),
        ("annotation_content", "user_update", "to_review", "annotation_content user_update"),
        ("annotation_content", "confirm", "confirmed", "annotation_content confirm"),
        ("annotation_content", "initialize", "importing", "annotation_content initialize"),
        ("annotation_content", None, "exporting", "annotation_content without an action"),
        (
            "annotation_status",
            "changed",
            "confirmed",
            "annotation_status changed to status 'confirmed'",
        ),
        (
            "annotation_status",
            "changed",
            "exported",
            "annotation_status changed to status 'exported'",
        ),
        ("annotation_status", "started", "exporting", "annotation_status started"),
        ("email", "received", "exporting", "email received"),
        ("upload", "created", "exporting", "upload created"),
        ("invocation", "scheduled", "exporting", "invocation scheduled"),
    ],
)
def test_a_call_that_is_not_an_export_sends_nothing(
    post_hook, payload_for, fake_rossum, target, caplog, event, action, status, logged
):
    event_shape = "annotation_status" if event == "annotation_status" else "annotation_content"
    payload = payload_for(simple_settings(f"{target.url}/api/invoices"), event=event_shape)
    payload["event"] = event
    if action is None:
        del payload["action"]
    else:
        payload["action"] = action
    payload["annotation"]["status"] = status
    caplog.set_level(logging.INFO, logger="app.hooks")

    code, answer = post_hook(payload)

    assert (code, answer) == (200, {"messages": [], "operations": []})
    assert target.requests == []
    assert fake_rossum.calls == []  # not even the file or the content is fetched
    assert f"ignored {logged}: only an export exports; nothing sent" in caplog.messages


@pytest.mark.parametrize("event", ["annotation_content", "annotation_status"])
def test_both_export_calls_export(post_hook, payload_for, target, event):
    code, answer = post_hook(
        payload_for(simple_settings(f"{target.url}/api/invoices"), event=event)
    )

    assert code == 200
    assert [m["type"] for m in answer["messages"]] == ["info"], answer
    assert len(target.requests) == 1
