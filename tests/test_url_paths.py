"""A placeholder's value cannot climb out of the URL path the template wrote (SPEC §5)."""

import pytest

from app.errors import TemplateError
from app.templating import TemplateValues
from app.url_templating import render_url
from tests.builders import simple_settings

PATH_ESCAPE = (
    "request.url: the value of @{document_id} holds a '.' or '..' path segment, which would "
    "send the request to another path of the API; nothing was sent"
)


def set_document_id(payload: dict, value: str) -> None:
    payload["annotation"]["content"][0]["children"][0]["content"]["value"] = value


@pytest.mark.parametrize(
    "value",
    [
        "../../../admin?x=",
        "..",
        ".",
        "a/../b",
        "a/./b",
        "%2e%2e/admin",
        "%2E%2e",
        ".%2e",
        "..%2fadmin",
        "..\\admin",
        "a%5c..%5cb",
    ],
)
def test_a_dot_segment_from_a_value_in_the_path_fails_and_sends_nothing(
    post_hook, payload_for, target, value
):
    payload = payload_for(simple_settings(f"{target.url}/invoices/@{{document_id}}/attachments"))
    set_document_id(payload, value)

    _, answer = post_hook(payload)

    assert answer["messages"] == [
        {"type": "error", "content": f"Export failed (template): {PATH_ESCAPE}"}
    ]
    assert target.requests == []


@pytest.mark.parametrize(
    ("template", "value", "path", "query"),
    [
        ("/invoices/@{document_id}", "INV-2024-0042", "/invoices/INV-2024-0042", {}),
        ("/invoices/@{document_id}", "v1.2..3", "/invoices/v1.2..3", {}),
        ("/invoices/@{document_id}", "...", "/invoices/...", {}),
        ("/invoices/@{document_id}", ".hidden", "/invoices/.hidden", {}),
        ("/invoices?next=@{document_id}", "../../admin", "/invoices", {"next": "../../admin"}),
        ("/invoices#@{document_id}", "../x", "/invoices", {}),
    ],
)
def test_other_values_and_values_in_the_query_are_sent_as_written(
    post_hook, payload_for, target, template, value, path, query
):
    payload = payload_for(simple_settings(f"{target.url}{template}"))
    set_document_id(payload, value)

    _, answer = post_hook(payload)

    assert answer["messages"][0]["type"] == "info", answer
    assert target.requests[0].path == path
    assert target.requests[0].args == query


def values(**datapoints) -> TemplateValues:
    return TemplateValues(datapoint=datapoints.get, secrets={"base": "https://erp.example.com/a"})


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        # the whole URL, or its host, from a placeholder: the user's URL
        ("@{url}", "https://erp.example.com/a/../admin"),
        ("{secret.base}/@{id}", "https://erp.example.com/a/../admin"),
        ("https://@{host}/@{id}", "https://erp.example.com/../admin"),
        # the template's own literal dot segments are the user's choice
        ("https://erp.example.com/a/../@{doc}", "https://erp.example.com/a/../INV-1"),
    ],
)
def test_urls_the_template_does_not_write_are_left_alone(template, rendered):
    assert (
        render_url(
            template,
            values(url=rendered, id="../admin", host="erp.example.com", doc="INV-1"),
            "request.url",
        )
        == rendered
    )


@pytest.mark.parametrize(
    ("template", "placeholder"),
    [
        ("https://erp.example.com/a/@{x}@{y}/b", "@{x}"),  # "." + "." makes ".."
        ("https://erp.example.com/a/.@{y}/b", "@{y}"),
        ("https://erp.example.com/{secret.part}/b", "{secret.part}"),
        ("https://erp.example.com/a/#{annotation_id}/@{y}", "@{y}"),
    ],
)
def test_the_error_names_the_placeholder_not_its_value(template, placeholder):
    rendered = TemplateValues(
        datapoint={"x": ".", "y": "."}.get,
        secrets={"part": "s3cret/../x"},
        variables={"annotation_id": "1"},
    )
    with pytest.raises(TemplateError) as error:
        render_url(template, rendered, "auth.url")
    assert str(error.value).startswith(f"auth.url: the value of {placeholder} holds")
    assert "s3cret" not in str(error.value)


def test_a_dot_segment_in_the_token_url_path_fails_before_any_request(
    post_hook, payload_for, target
):
    settings = {
        **simple_settings(f"{target.url}/in"),
        "auth": {
            "url": f"{target.url}/tenants/@{{document_id}}/token",
            "data": {"grant_type": "client_credentials"},
        },
    }
    payload = payload_for(settings)
    set_document_id(payload, "../../admin")

    _, answer = post_hook(payload)

    [message] = answer["messages"]
    assert message["type"] == "error"
    assert (
        "auth.url: the value of @{document_id} holds a '.' or '..' path segment"
        in (message["content"])
    )
    assert target.requests == []
