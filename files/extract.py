"""What a file says: its type checked against its bytes, its text extracted, and the text cut into chunks.

Tokens are counted with a simple tokenizer (runs of non-space characters), not a model's: a chunk of 800 of
them is near OpenAI's 800-token chunk for English prose.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

CHUNK_TOKENS_DEFAULT = 800
CHUNK_OVERLAP_DEFAULT = 400
CHUNK_TOKENS_MIN = 100
CHUNK_TOKENS_MAX = 4096

TEXT_EXTENSIONS = frozenset(
    {
        ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".log", ".tex", ".json", ".jsonl", ".xml", ".yaml",
        ".yml", ".toml", ".ini", ".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".c", ".h", ".cc", ".cpp", ".hpp",
        ".cs", ".java", ".kt", ".go", ".rs", ".rb", ".php", ".pl", ".swift", ".scala", ".sh", ".bash", ".sql",
        ".css", ".scss", ".lua", ".r", ".vue", ".svelte",
    }
)  # fmt: skip
HTML_EXTENSIONS = frozenset({".html", ".htm"})
TYPES = {
    **{extension: "text/plain" for extension in TEXT_EXTENSIONS},
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".json": "application/json",
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# Images go to the model as they are (a message's image_file parts); they have no text to search.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}  # fmt: skip
IMAGE_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
               "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}  # fmt: skip


class FileRefused(Exception):
    """A file of a type Switchboard does not take, or whose bytes are not what its name says."""


class Unreadable(Exception):
    """A file whose text could not be read (a damaged PDF, a docx that is not one)."""


def extension_of(filename: str) -> str:
    return PurePath(filename).suffix.lower()


def content_type_check(filename: str, head: bytes) -> str:
    """The content type of an upload, from its name, once its first bytes agree with it."""
    extension = extension_of(filename)
    if extension in IMAGE_TYPES:
        content_type = IMAGE_TYPES[extension]
        if not head.startswith(IMAGE_MAGIC[content_type]) or (content_type == "image/webp" and head[8:12] != b"WEBP"):
            raise FileRefused(f"The file is named {extension} but is not a {content_type.split('/')[1].upper()} image.")
        return content_type
    if extension not in TYPES:
        supported = ", ".join(sorted([*TYPES, *IMAGE_TYPES]))
        raise FileRefused(f"Files of type '{extension or filename}' are not supported; supported: {supported}.")
    if extension == ".pdf" and not head.startswith(b"%PDF-"):
        raise FileRefused("The file is named .pdf but is not a PDF.")
    if extension == ".docx" and not head.startswith(b"PK\x03\x04"):
        raise FileRefused("The file is named .docx but is not a Word document.")
    if extension not in (".pdf", ".docx"):
        if b"\x00" in head:
            raise FileRefused(f"The file is named {extension} but holds binary data, not text.")
        try:
            # The head may end inside a character: only a fault before its last few bytes counts.
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                raise FileRefused(f"The file is named {extension} but is not UTF-8 text.") from None
    return TYPES[extension]


class _HTMLText(HTMLParser):
    SKIP = frozenset({"script", "style", "template", "noscript", "head"})
    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n\s*\n+", "\n\n", "".join(parser.parts)).strip()


@dataclass
class Extracted:
    text: str
    pages: int = 1


def text_extract(filename: str, data: bytes) -> Extracted:
    """The text of a stored file, by its type."""
    extension = extension_of(filename)
    if extension in IMAGE_TYPES:
        raise Unreadable("An image has no text to search; attach it to a message for the model to see.")
    if extension == ".pdf":
        return _pdf_text(data)
    if extension == ".docx":
        return _docx_text(data)
    text = data.decode("utf-8", errors="replace")
    if extension in HTML_EXTENSIONS:
        text = html_text(text)
    return Extracted(text=text)


def _pdf_text(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Unreadable("The PDF is encrypted.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except Unreadable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise Unreadable(f"The PDF could not be read: {str(exc)[:200] or type(exc).__name__}.") from None
    return Extracted(text="\n\n".join(pages), pages=len(pages))


def _docx_text(data: bytes) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Unreadable(f"The Word document could not be read: {str(exc)[:200] or type(exc).__name__}.") from None
    paragraphs = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text for cell in row.cells))
    return Extracted(text="\n".join(paragraphs))


_TOKEN = re.compile(r"\S+")


def tokens_count(text: str) -> int:
    """How many tokens `text` has, counted as chunks count them."""
    return len(_TOKEN.findall(text))


def chunks_cut(text: str, *, max_tokens: int = CHUNK_TOKENS_DEFAULT, overlap: int = CHUNK_OVERLAP_DEFAULT) -> list[str]:
    """Cut text into chunks of at most `max_tokens` tokens, each sharing `overlap` tokens with the one before."""
    spans = [match.span() for match in _TOKEN.finditer(text)]
    if not spans:
        return []
    step = max(1, max_tokens - overlap)
    chunks = []
    for start in range(0, len(spans), step):
        end = min(start + max_tokens, len(spans))
        chunks.append(text[spans[start][0] : spans[end - 1][1]])
        if end == len(spans):
            break
    return chunks
