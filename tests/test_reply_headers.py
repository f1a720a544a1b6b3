"""Reply headers read without the email parser are the message http.client would build."""

import http.client
import io
import socket
import threading

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from app import reply_headers
from app.reply_headers import email_parsed, parse_headers

NAMES = st.sampled_from(
    ["Content-Type", "X-Id", "set-cookie", "Bad Name", "", "From x", "Ünï", "a\tb", "X_y~!"]
)
VALUES = st.text(
    alphabet=st.sampled_from(list("ab: \t;=,/\"'\r\nÿé€") + ["\x00", "\x7f"]), max_size=12
)
LINE_ENDS = st.sampled_from(["\r\n", "\n"])


@st.composite
def header_lines(draw):
    kind = draw(st.sampled_from(["header", "header", "header", "continuation", "no colon"]))
    end = draw(LINE_ENDS)
    if kind == "continuation":
        return draw(st.sampled_from([" ", "\t"])) + draw(VALUES) + end
    if kind == "no colon":
        return draw(st.sampled_from(["junk", "From someone", " "])) + end
    return f"{draw(NAMES)}:{draw(VALUES)}{end}"


def message_of(parse, block: bytes):
    message = parse(io.BytesIO(block))
    state = {k: v for k, v in vars(message).items() if k != "defects"}
    return type(message), state, [type(defect) for defect in message.defects]


def standard(fp):
    return email_parsed(http.client._read_headers(fp), http.client.HTTPMessage)


@settings(max_examples=500, deadline=None)
@given(
    lines=st.lists(header_lines(), max_size=6),
    ending=st.sampled_from(["\r\n", "\n", ""]),
    rest=st.sampled_from(["", "body bytes"]),
)
def test_any_header_block_gives_the_message_the_email_parser_gives(lines, ending, rest):
    block = "".join(lines) + ending + rest
    data = block.encode("iso-8859-1", errors="replace")

    assert message_of(parse_headers, data) == message_of(standard, data)


@pytest.mark.parametrize(
    "block",
    [
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",
        b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\nX-Spaces:  v  \r\n\r\n",
        b"Server: gunicorn\nDate: Wed, 02 Dec 2026 01:00:00 GMT\n\n",
    ],
)
def test_plain_replies_are_read_alike(block):
    ours, theirs = parse_headers(io.BytesIO(block)), standard(io.BytesIO(block))

    assert ours.items() == theirs.items() and ours.get_payload() == theirs.get_payload() == ""


def test_http_clients_limits_still_hold():
    too_many = b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        parse_headers(io.BytesIO(too_many))
    with pytest.raises(http.client.LineTooLong):
        parse_headers(io.BytesIO(b"X-Long: " + b"v" * 70000 + b"\r\n\r\n"))


def one_raw_reply(reply: bytes) -> tuple[str, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = server.accept()
        with connection, server:
            connection.recv(65536)
            connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/", thread


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Type: text/plain\r\nX-Trace: a, b\r\n",
        b"X-Folded: first\r\n  second\r\nContent-Type: text/plain\r\n",  # the email parser's
    ],
)
def test_a_real_reply_reaches_requests_as_with_http_clients_own_parsing(headers, monkeypatch):
    reply = b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Length: 2\r\n\r\n" + b"ok"
    seen = []
    for parse in (standard, None):
        if parse is None:
            monkeypatch.undo()
            reply_headers.install()
            assert http.client.parse_headers is parse_headers
        else:
            monkeypatch.setattr(http.client, "parse_headers", parse)
        url, thread = one_raw_reply(reply)
        response = requests.get(url, timeout=10)
        thread.join(10)
        assert response.text == "ok"
        seen.append(list(response.headers.items()))

    assert seen[0] == seen[1]
    assert ("Content-Type", "text/plain") in seen[1]
