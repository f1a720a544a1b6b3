"""Reply headers read without the email package, into what http.client would build.

http.client hands every reply's header block to ``email.parser``, whose feed parser is
made for MIME messages: about 30 µs a reply, more than the rest of reading a small
reply's status line and headers. A block of plain ``Name: value`` lines (what
Rossum's API and targets send) is read here into the same ``HTTPMessage`` directly.
Anything else (a folded line, a name the email parser would not take as one, a bare
CR, a block cut off by the connection) goes to the email parser as before, so the
message is always the one http.client's own parsing gives. The line-length and
header-count limits stay http.client's: the lines are read by its ``_read_headers``.
"""

import email.parser
import http.client
import re

# A header name as the email parser takes one (its headerRE): printable ASCII, no colon.
HEADER_NAME = re.compile(r"[\041-\071\073-\176]+")
LINE_ENDS = ("\r\n", "\n")


def parse_headers(fp, _class=http.client.HTTPMessage):
    """http.client's ``parse_headers``, reading plain lines without the email parser."""
    lines = http.client._read_headers(fp)
    if lines[-1] not in (b"\r\n", b"\n"):
        return email_parsed(lines, _class)
    message = _class()
    for line in lines[:-1]:
        name, colon, value = line.decode("iso-8859-1").partition(":")
        value = value.lstrip(" \t")
        for end in LINE_ENDS:
            if value.endswith(end):
                value = value[: -len(end)]
                break
        if not colon or not HEADER_NAME.fullmatch(name) or "\r" in value or "\n" in value:
            return email_parsed(lines, _class)
        message[name] = value
    message.set_payload("")  # what the email parser leaves: an empty body
    return message


def email_parsed(lines: list[bytes], _class):
    """The header lines parsed as http.client parses them."""
    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=_class).parsestr(text)


def install() -> None:
    """Read every reply's headers this way; left as it is on a Python whose http.client
    has no ``_read_headers``."""
    if hasattr(http.client, "_read_headers"):
        http.client.parse_headers = parse_headers
