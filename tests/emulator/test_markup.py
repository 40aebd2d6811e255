"""parse_mode parsing: plain text, entities in UTF-16 units, tdlib's error wording."""
from __future__ import annotations

import pytest

from botrunner.emulator.envelope import ApiError
from botrunner.emulator.markup import parse, utf16_len


def test_html_entities_and_escapes():
    text, entities = parse('<b>bold</b> &amp; <a href="https://x.io/?a=1&amp;b=2">link</a>', "HTML")
    assert text == "bold & link"
    assert entities == [{"type": "bold", "offset": 0, "length": 4},
                        {"type": "text_link", "offset": 7, "length": 4, "url": "https://x.io/?a=1&b=2"}]


def test_html_offsets_are_utf16():
    text, entities = parse("😀 <i>x</i>", "HTML")
    assert text == "😀 x"
    assert entities == [{"type": "italic", "offset": 3, "length": 1}]
    assert utf16_len("😀") == 2


@pytest.mark.parametrize("source, reason", [
    ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
    ("a <b", "Unclosed start tag at byte offset 2"),
])
def test_html_errors(source, reason):
    with pytest.raises(ApiError) as error:
        parse(source, "HTML")
    assert error.value.code == 400
    assert error.value.description == f"Bad Request: can't parse entities: {reason}"


def test_markdown_v2_entities():
    text, entities = parse(r"*bold* _it_ __u__ ~s~ ||sp|| `c` [l](https://e.x) a\.b", "MarkdownV2")
    assert text == "bold it u s sp c l a.b"
    assert [e["type"] for e in entities] == ["bold", "italic", "underline", "strikethrough", "spoiler", "code",
                                             "text_link"]
    assert entities[-1]["url"] == "https://e.x"


def test_markdown_v2_pre_with_language():
    text, entities = parse("```python\nprint(1)```", "MarkdownV2")
    assert text == "print(1)"
    assert entities == [{"type": "pre", "language": "python", "offset": 0, "length": 8}]


@pytest.mark.parametrize("source, reason", [
    ("*open", "Can't find end of Bold entity at byte offset 0"),
    ("end.", "Character '.' is reserved and must be escaped with the preceding '\\'"),
    ("`code", "Can't find end of Code entity at byte offset 0"),
])
def test_markdown_v2_errors(source, reason):
    with pytest.raises(ApiError) as error:
        parse(source, "MarkdownV2")
    assert error.value.description == f"Bad Request: can't parse entities: {reason}"


def test_legacy_markdown():
    assert parse("*b* and [t](http://u)", "Markdown") == (
        "b and t", [{"type": "bold", "offset": 0, "length": 1},
                    {"type": "text_link", "offset": 6, "length": 1, "url": "http://u"}])
    with pytest.raises(ApiError) as error:
        parse("x *open", "Markdown")
    assert error.value.description == ("Bad Request: can't parse entities: Can't find end of the entity starting "
                                       "at byte offset 2")


def test_no_parse_mode_keeps_text():
    assert parse("<b>not html</b>", None) == ("<b>not html</b>", [])
