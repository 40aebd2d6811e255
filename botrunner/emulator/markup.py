"""parse_mode handling: HTML, MarkdownV2 and Markdown text turned into plain text plus entities.

Broken markup raises "Bad Request: can't parse entities: ..." with tdlib's wording and byte
offsets. Entity offsets and lengths are in UTF-16 code units, as in the Bot API.
"""
from __future__ import annotations

import html
import re
from typing import Any

from botrunner.emulator.envelope import ApiError, bad_request

Entities = list[dict[str, Any]]

_HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
              "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
              "tg-spoiler": "spoiler", "span": "spoiler", "code": "code", "pre": "pre", "a": "text_link",
              "blockquote": "blockquote", "tg-emoji": "custom_emoji"}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)?([^>]*)>")
_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
              "spoiler": "Spoiler", "text_link": "TextUrl"}


def parse(text: str, parse_mode: str | None) -> tuple[str, Entities]:
    """Plain text and entities for `text` under `parse_mode` (None or "": text as-is)."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _MarkdownV2(text).parse()
    if mode == "markdown":
        return _parse_markdown(text)
    raise bad_request("unsupported parse_mode")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (how Telegram measures entity offsets)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fail(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_html(text: str) -> tuple[str, Entities]:
    out: list[str] = []
    entities: Entities = []
    stack: list[tuple[str, int, dict[str, Any]]] = []   # (tag, utf16 start, extra fields)
    position = 0
    pos16 = 0
    while True:
        start = text.find("<", position)
        chunk = html.unescape(text[position:] if start < 0 else text[position:start])
        out.append(chunk)
        pos16 += utf16_len(chunk)
        if start < 0:
            break
        match = _TAG.match(text, start)
        if match is None:
            raise _fail(f"Unclosed start tag at byte offset {_byte_offset(text, start)}")
        closing, name, rest = match.group(1), (match.group(2) or "").lower(), match.group(3)
        if closing:
            if not stack:
                raise _fail(f"Unexpected end tag at byte offset {_byte_offset(text, start)}")
            open_tag, open16, extra = stack.pop()
            if open_tag != name:
                raise _fail(f"Unmatched end tag at byte offset {_byte_offset(text, start)}, "
                            f"expected \"</{open_tag}>\", found \"</{name}>\"")
            if pos16 > open16:
                entities.append({"type": _HTML_TAGS[open_tag], "offset": open16, "length": pos16 - open16, **extra})
        else:
            stack.append((name, pos16, _html_extra(text, start, name, rest)))
        position = match.end()
    if stack:
        raise _fail(f"Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: e["offset"])
    return "".join(out), entities


def _html_extra(text: str, start: int, name: str, rest: str) -> dict[str, Any]:
    if name not in _HTML_TAGS or (name == "span" and "tg-spoiler" not in rest):
        raise _fail(f"Unsupported start tag \"{name}\" at byte offset {_byte_offset(text, start)}")
    if name == "a":
        href = _HREF.search(rest)
        return {"url": html.unescape(next(g for g in href.groups() if g is not None))} if href else {}
    return {}


class _MarkdownV2:
    """A small stack machine over MarkdownV2 (escapes, nesting, code/pre bodies, links)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.pos16 = 0
        self.entities: Entities = []
        self.stack: list[tuple[str, int, int]] = []   # (type, utf16 start, index in text)

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.pos16 += utf16_len(chunk)

    def parse(self) -> tuple[str, Entities]:
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            ch = text[i]
            if ch == "\\" and i + 1 < n and ord(text[i + 1]) <= 126:
                self.emit(text[i + 1])
                i += 2
            elif ch == "`":
                i = self.code(i)
            elif ch in "*_~|":
                i = self.toggle(i)
            elif ch == "[":
                self.stack.append(("text_link", self.pos16, i))
                i += 1
            elif ch == "]" and self.stack and self.stack[-1][0] == "text_link":
                i = self.close_link(i)
            elif ch == ">" and (i == 0 or text[i - 1] == "\n"):
                i = self.quote_line(i)
            elif ch in _MD2_RESERVED:
                raise _fail(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
            else:
                self.emit(ch)
                i += 1
        if self.stack:
            kind, _, index = self.stack[-1]
            raise _fail(f"Can't find end of {_MD2_NAMES[kind]} entity at byte offset {_byte_offset(text, index)}")
        self.entities.sort(key=lambda e: e["offset"])
        return "".join(self.out), self.entities

    def toggle(self, i: int) -> int:
        text = self.text
        if text.startswith("__", i):
            kind, width = "underline", 2
        elif text.startswith("||", i):
            kind, width = "spoiler", 2
        elif text[i] == "|":
            raise _fail("Character '|' is reserved and must be escaped with the preceding '\\'")
        else:
            kind, width = {"*": "bold", "_": "italic", "~": "strikethrough"}[text[i]], 1
        if self.stack and self.stack[-1][0] == kind:
            _, start16, _ = self.stack.pop()
            if self.pos16 > start16:
                self.entities.append({"type": kind, "offset": start16, "length": self.pos16 - start16})
        elif any(entry[0] == kind for entry in self.stack):
            top_kind, _, index = self.stack[-1]
            raise _fail(f"Can't find end of {_MD2_NAMES[top_kind]} entity at byte offset "
                        f"{_byte_offset(text, index)}")
        else:
            self.stack.append((kind, self.pos16, i))
        return i + width

    def code(self, i: int) -> int:
        text = self.text
        fence = "```" if text.startswith("```", i) else "`"
        end = i + len(fence)
        body: list[str] = []
        while end < len(text) and not text.startswith(fence, end):
            if text[end] == "\\" and end + 1 < len(text) and text[end + 1] in "`\\":
                end += 1
            body.append(text[end])
            end += 1
        if end >= len(text):
            raise _fail(f"Can't find end of {'Pre' if fence == '```' else 'Code'} entity at byte offset "
                        f"{_byte_offset(text, i)}")
        content = "".join(body)
        entity: dict[str, Any] = {"type": "pre" if fence == "```" else "code"}
        if fence == "```" and "\n" in content:
            language, content = content.split("\n", 1)
            if language.strip():
                entity["language"] = language.strip()
        entity["offset"] = self.pos16
        self.emit(content)
        entity["length"] = self.pos16 - entity["offset"]
        if entity["length"]:
            self.entities.append(entity)
        return end + len(fence)

    def close_link(self, i: int) -> int:
        text = self.text
        _, start16, _ = self.stack.pop()
        if not text.startswith("(", i + 1):
            return i + 1          # "[text]" without a URL stays plain text, as in tdlib
        end = i + 2
        url: list[str] = []
        while end < len(text) and text[end] != ")":
            if text[end] == "\\" and end + 1 < len(text):
                end += 1
            url.append(text[end])
            end += 1
        if end >= len(text):
            raise _fail(f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}")
        if self.pos16 > start16:
            self.entities.append({"type": "text_link", "offset": start16, "length": self.pos16 - start16,
                                  "url": "".join(url)})
        return end + 1

    def quote_line(self, i: int) -> int:
        start16 = self.pos16
        newline = self.text.find("\n", i)
        line_end = len(self.text) if newline < 0 else newline
        # The quoted line is parsed like any other text; only its extent becomes the entity.
        inner, inner_entities = _MarkdownV2(self.text[i + 1:line_end]).parse()
        for entity in inner_entities:
            self.entities.append({**entity, "offset": entity["offset"] + start16})
        self.emit(inner)
        last = self.entities[-1] if self.entities else None
        if last and last["type"] == "blockquote" and last["offset"] + last["length"] + 1 == start16:
            last["length"] = self.pos16 - last["offset"]
        elif self.pos16 > start16:
            self.entities.append({"type": "blockquote", "offset": start16, "length": self.pos16 - start16})
        return line_end


def _parse_markdown(text: str) -> tuple[str, Entities]:
    """Legacy Markdown: *bold* _italic_ `code` ```pre``` [text](url); no nesting, no reserved chars."""
    out: list[str] = []
    entities: Entities = []
    pos16 = 0
    i, n = 0, len(text)
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "*_`[":
            out.append(text[i + 1])
            pos16 += 1
            i += 2
            continue
        if ch not in "*_`[":
            out.append(ch)
            pos16 += utf16_len(ch)
            i += 1
            continue
        if ch == "`" and text.startswith("```", i):
            close, kind, width = text.find("```", i + 3), "pre", 3
        elif ch == "[":
            close, kind, width = text.find("]", i + 1), "text_link", 1
        else:
            close, kind, width = text.find(ch, i + 1), kinds[ch], 1
        if close < 0:
            raise _fail(f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}")
        body = text[i + width:close]
        entity: dict[str, Any] = {"type": kind, "offset": pos16, "length": utf16_len(body)}
        i = close + width
        if kind == "text_link":
            if not text.startswith("(", i) or text.find(")", i) < 0:
                raise _fail(f"Can't find end of the entity starting at byte offset {_byte_offset(text, i - 1)}")
            entity["url"] = text[i + 1:text.find(")", i)]
            i = text.find(")", i) + 1
        out.append(body)
        pos16 += entity["length"]
        if entity["length"]:
            entities.append(entity)
    return "".join(out), entities
