"""The redactor: which values it masks, and in which forms (SPEC §7)."""

import base64
import json
import re
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from app.redaction import MASK, Redactor, alternation


def test_each_secret_is_masked_raw_and_in_its_echo_forms():
    secret = 'a b+/&="\\ü'
    redactor = Redactor([secret])
    forms = [
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote(secret, safe="").lower(),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    ]
    for form in forms:
        assert redactor.text(f"<{form}>") == f"<{MASK}>", form
        assert redactor.bytes(f"<{form}>".encode()) == f"<{MASK}>".encode(), form
    assert redactor.bytes(f"<{secret}>".encode("latin-1")) == f"<{MASK}>".encode()


def test_basic_credentials_a_secret_takes_part_in_are_masked():
    redactor = Redactor()
    redactor.add_credentials({"client_id": "my client", "client_secret": "s3cr3t&value"})
    plain = base64.b64encode(b"my client:s3cr3t&value").decode()
    form_encoded = base64.b64encode(b"my+client:s3cr3t%26value").decode()
    assert redactor.text(f"Basic {plain} / Basic {form_encoded}") == f"Basic {MASK} / Basic {MASK}"
    assert redactor.text("my client") == "my client"  # the id is no secret


def test_only_secret_fields_of_a_token_request_are_masked():
    redactor = Redactor()
    redactor.add_credentials(
        {
            "grant_type": "password",
            "username": "erp-user",
            "password": "pass-word-1",
            "scope": "read write",
            "client_id": "literal-client",
        }
    )
    text = "grant_type=password&username=erp-user&password=pass-word-1&scope=read write"
    assert redactor.text(text) == (
        f"grant_type=password&username=erp-user&password={MASK}&scope=read write"
    )


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole():
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.text("abcdefgh abcd") == f"{MASK} {MASK}"


def test_values_shorter_than_four_characters_are_not_masked():
    redactor = Redactor(["abc", "", None])
    assert redactor.text("abc") == "abc"
    assert not redactor.values


def test_secrets_learnt_later_are_masked_from_then_on():
    redactor = Redactor(["first-secret"])
    assert redactor.text("token-1234") == "token-1234"
    redactor.add("token-1234")
    assert redactor.text("first-secret token-1234") == f"{MASK} {MASK}"


def test_json_trees_are_masked_string_by_string():
    escaped = json.dumps('q"uote')[1:-1]
    redactor = Redactor(['q"uote'])
    tree = {"a": [escaped, 1, None], escaped: "x"}
    assert json.loads(json.dumps(redactor.tree(tree))) == {"a": [MASK, 1, None], MASK: "x"}


def leftmost_longest(words: set, text, mask):
    """The reference: scan left to right, masking the longest word that starts here."""
    out, position = [], 0
    while position < len(text):
        found = max((w for w in words if text.startswith(w, position)), key=len, default=None)
        if found:
            out.append(mask)
            position += len(found)
        else:
            out.append(text[position : position + 1])
            position += 1
    return mask[:0].join(out)


@settings(max_examples=300, deadline=None)
@given(
    st.sets(st.text(alphabet='ab+/%\\"ü', min_size=1, max_size=6), min_size=1, max_size=6),
    st.text(alphabet='ab+/%\\"ü ', max_size=40),
)
def test_the_one_pattern_masks_like_longest_first_replacement(words, text):
    assert re.sub(alternation(words), MASK, text) == leftmost_longest(words, text, MASK)
    encoded, mask = {word.encode() for word in words}, MASK.encode()
    assert re.sub(alternation(encoded), mask, text.encode()) == leftmost_longest(
        encoded, text.encode(), mask
    )


def test_a_long_token_is_masked():
    token = "eyJ" + "x1-_" * 2000
    assert Redactor([token]).text(f"Bearer {token}.") == f"Bearer {MASK}."
