from __future__ import annotations

import pytest

from files.extract import FileRefused, Unreadable, chunks_cut, content_type_check, html_text, text_extract
from tests.files.conftest import docx_bytes, pdf_bytes


def test_it_cuts_text_into_overlapping_chunks_of_tokens():
    text = " ".join(f"w{i}" for i in range(2000))
    chunks = chunks_cut(text, max_tokens=800, overlap=400)
    assert [len(chunk.split()) for chunk in chunks] == [800, 800, 800, 800]
    assert chunks[1].split()[0] == "w400"
    assert chunks[-1].split()[-1] == "w1999"


def test_it_keeps_a_short_text_in_one_chunk():
    assert chunks_cut("a short text\nwith two lines") == ["a short text\nwith two lines"]
    assert chunks_cut("   ") == []


def test_it_reads_the_text_of_a_pdf():
    extracted = text_extract("report.pdf", pdf_bytes("The reactor runs on thorium", "Second page"))
    assert "thorium" in extracted.text
    assert extracted.pages == 2


def test_it_reads_the_text_of_a_docx():
    assert "quarterly figures" in text_extract("notes.docx", docx_bytes("Title", "The quarterly figures")).text


def test_it_reads_html_as_text_without_scripts():
    text = html_text("<html><head><title>x</title></head><body><h1>Hello</h1><script>evil()</script><p>A &amp; B</p>")
    assert "Hello" in text and "A & B" in text and "evil" not in text


def test_it_refuses_an_unreadable_pdf():
    with pytest.raises(Unreadable):
        text_extract("broken.pdf", b"%PDF-1.4\nthis is not really a pdf")


@pytest.mark.parametrize(
    ("name", "data"),
    [("fake.pdf", b"hello"), ("fake.docx", b"hello"), ("binary.txt", b"\x00\x01\x02"), ("tool.exe", b"MZ")],
)
def test_it_refuses_a_file_whose_type_lies(name, data):
    with pytest.raises(FileRefused):
        content_type_check(name, data)


def test_it_names_the_type_of_a_file():
    assert content_type_check("a.md", b"# Title") == "text/markdown"
    assert content_type_check("a.py", b"print(1)") == "text/plain"
    assert content_type_check("a.pdf", pdf_bytes("x")) == "application/pdf"
