"""Message Markdown, rendered and sanitized on the server."""

from __future__ import annotations

import re
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

_LANGUAGE = re.compile(r"[\w+#.-]{1,30}")
# Past this size a block is shown plain: colouring is a nicety, not worth a slow page.
HIGHLIGHT_MAX_CHARS = 20_000
_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, language: str, attrs: str) -> str:
    """Colour a labelled code block with Pygments' token classes (the page's CSS colours them); "" leaves it
    to be escaped as plain text. Unlabelled blocks are not guessed at."""
    if not language or not _LANGUAGE.fullmatch(language) or len(code) > HIGHLIGHT_MAX_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _formatter)


_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True, "highlight": _highlight})
    .enable("table")
    .enable("strikethrough")
)
_fence_default = _md.renderer.rules["fence"]


def _fence(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
    # A labelled frame around each code block; the page's script adds a copy button to its head.
    info = tokens[idx].info.strip().split(maxsplit=1)
    language = info[0] if info and _LANGUAGE.fullmatch(info[0]) else ""
    label = f'<span class="code-lang">{escapeHtml(language)}</span>' if language else ""
    return (
        f'<div class="code-block"><div class="code-head">{label}</div>{_fence_default(tokens, idx, options, env)}</div>'
    )


_md.add_render_rule("fence", _fence)

_TAGS = {
    "a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p",
    "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "s",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}
_ATTRIBUTE_VALUES = {
    "div": {"class": {"code-block", "code-head"}},
    # Pygments marks each token with one short class ("k" keyword, "s1" string, ...): those, and nothing else.
    "span": {"class": {"code-lang", *(name for name in STANDARD_TYPES.values() if name)}},
}


def markdown_render(text: str) -> str:
    """Return safe HTML for a message; raw HTML in the text stays text."""
    return html_sanitize(_md.render(text or ""))


# Built once: building the sanitizer from these sets costs ten times what cleaning a message does.
_cleaner = nh3.Cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    tag_attribute_values=_ATTRIBUTE_VALUES,
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer",
)


def html_sanitize(html: str) -> str:
    """Keep only the tags, attributes and classes the message styles know; links to the web and mail only."""
    return _cleaner.clean(html)


def message_html_add(data: dict[str, Any]) -> dict[str, Any]:
    """Add the rendered Markdown to an assistant message's wire object, for the chat page only.

    `content_html` is not part of the Assistants v2 message object: only WebSocket frames carry it.
    """
    if data.get("role") != "assistant":
        return data
    text = "".join(part.get("text", {}).get("value", "") for part in data.get("content") or [])
    return {**data, "content_html": markdown_render(text)}
