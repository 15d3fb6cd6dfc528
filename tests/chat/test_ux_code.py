"""Code blocks in answers are coloured on the server by Pygments, and the sanitizer still has the last word."""

from __future__ import annotations

import html as html_lib
import re

from chat.markdown import html_sanitize, markdown_render


def _code_text(html: str) -> str:
    """The text a reader sees in the first code block."""
    inner = html.split("<code", 1)[1].split(">", 1)[1].split("</code>", 1)[0]
    return html_lib.unescape(re.sub(r"<[^>]+>", "", inner))


def test_it_colours_a_labelled_code_block_with_token_classes():
    html = markdown_render("```python\ndef f():\n    return 1  # one\n```")

    assert '<span class="k">def</span>' in html
    assert '<span class="nf">f</span>' in html
    assert '<span class="c1"># one</span>' in html
    assert "style=" not in html  # colours come from the page's CSS: the CSP forbids inline styles


def test_it_keeps_markup_inside_coloured_code_as_text():
    html = markdown_render('```html\n<script>alert(1)</script><img src=x onerror="alert(2)">\n```')

    assert "<script" not in html and "<img" not in html
    assert _code_text(html) == '<script>alert(1)</script><img src=x onerror="alert(2)">\n'  # shown, as text


def test_it_leaves_unknown_and_unlabelled_languages_plain():
    unknown = markdown_render("```klingon\nx < y\n```")
    unlabelled = markdown_render("```\nif x < y: pass\n```")

    assert '<pre><code class="language-klingon">x &lt; y\n</code></pre>' in unknown
    assert "<pre><code>if x &lt; y: pass\n</code></pre>" in unlabelled


def test_it_keeps_the_code_exactly_as_written():
    code = "\n\n  indented()\n\n"
    html = markdown_render(f"```python\n{code}```")

    assert _code_text(html) == code


def test_it_refuses_a_hostile_language_label():
    html = markdown_render('```python" onmouseover="alert(1)\nx = 1\n```')

    assert 'onmouseover="' not in html
    assert '<span class="code-lang">' not in html


def test_it_strips_classes_and_attributes_the_highlighter_never_makes():
    html = html_sanitize(
        '<pre><code><span class="k evil" style="color:red" onclick="alert(1)">def</span>'
        '<span class="nf">f</span><span class="x-unknown">g</span></code></pre>'
        '<a href="javascript:alert(1)">x</a><iframe src="https://example.com"></iframe>'
    )

    assert "style=" not in html and "onclick" not in html and "evil" not in html and "x-unknown" not in html
    assert '<span class="nf">f</span>' in html
    assert "javascript:" not in html and "<iframe" not in html


def test_it_shows_a_very_long_block_plain():
    html = markdown_render("```python\n" + "x = 1\n" * 5000 + "```")

    assert '<span class="' not in html.split("</div>", 1)[1]
