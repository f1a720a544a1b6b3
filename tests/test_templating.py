"""Placeholders (SPEC §5), rendered without any I/O."""

import pytest

from app.annotation import AnnotationContent
from app.errors import TemplateError
from app.templating import (
    TemplateValues,
    file_placeholders,
    render_bytes,
    render_text,
    single_file_placeholder,
)
from tests.builders import annotation_content

CONTENT = AnnotationContent(annotation_content())
VALUES = TemplateValues(
    datapoint=CONTENT.value,
    secrets={"token": "t0k3n", "user": "alice"},
    variables={"annotation_id": "314521", "request_id": "req-1"},
    files={"file_content": b"a,b\n1,2\n", "original_file": bytes(range(256))},
)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("@{document_id}", "INV-2024-0042"),
        ("@{amount_total} @{currency}", "1 234.50 eur"),
        ("@{api_gate_off}", ""),  # exists with an empty value
        ("@{export_button}", ""),  # a button: content is null
        ("@{item_description}", "AWS services #1"),  # the first in document order
        ("Bearer {secret.token}", "Bearer t0k3n"),
        ("#{annotation_id}/#{request_id}", "314521/req-1"),
        ("no placeholders {at} all", "no placeholders {at} all"),
        (
            "https://x.example/?q=a%20b&id=@{document_id}",
            "https://x.example/?q=a%20b&id=INV-2024-0042",
        ),
    ],
)
def test_text_placeholders(template, rendered):
    assert render_text(template, VALUES, "request.url") == rendered


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "@{nothing}",
            "request.url: datapoint 'nothing' (@{nothing}) is not in the annotation",
        ),
        (
            "{secret.password}",
            "request.url: secret 'password' ({secret.password}) is not set in the hook's secrets",
        ),
        ("#{idempotency}", "request.url: unknown placeholder #{idempotency}"),
    ],
)
def test_missing_names_fail_naming_them(template, message):
    with pytest.raises(TemplateError) as raised:
        render_text(template, VALUES, "request.url")

    assert str(raised.value) == message


def test_missing_datapoint_counts_as_empty_where_asked():
    assert render_text("@{nothing}", VALUES, "condition", missing_datapoint_is_empty=True) == ""


def test_a_file_placeholder_alone_renders_the_file_bytes_unchanged():
    assert render_bytes("#{original_file}", VALUES, "request.content") == bytes(range(256))


def test_literals_around_a_file_are_utf8_and_the_file_bytes_untouched():
    rendered = render_bytes("před\n#{original_file}\npo", VALUES, "request.content")

    assert rendered == "před\n".encode() + bytes(range(256)) + b"\npo"


def test_a_binary_file_in_a_text_field_is_refused():
    with pytest.raises(TemplateError, match="needs a UTF-8 text file"):
        render_text("#{original_file}", VALUES, "request.headers.X")


def test_which_files_a_template_needs():
    assert file_placeholders("@{a} #{file_content} #{original_file} #{request_id}") == {
        "file_content",
        "original_file",
    }
    assert file_placeholders(None) == set()


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("#{file_content}", "file_content"),
        (" #{original_file}\n", "original_file"),
        ("x#{file_content}", None),
        ("#{request_id}", None),
        (None, None),
    ],
)
def test_single_file_placeholder(template, name):
    assert single_file_placeholder(template) == name


def test_secret_values_never_appear_in_template_errors():
    with pytest.raises(TemplateError) as raised:
        render_text("{secret.token}@{nothing}", VALUES, "request.content")

    assert "t0k3n" not in str(raised.value)
