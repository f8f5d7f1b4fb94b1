"""What a file is, from its first bytes (never its name), and whether chatd accepts it.

A small magic-bytes table of what firms and their clients exchange: documents, scans, photos,
spreadsheets, archives, plain text, audio and video. Anything else (executables, HTML, SVG,
scripts, unknown binaries) is refused: a shared file must not be able to run in a browser.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

HEAD_BYTES = 8192

ZIP = "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

# Shown in the browser (Content-Disposition: inline); everything else is downloaded.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/vnd.ms-office"),  # legacy .doc/.xls/.ppt
    (0, b"{\\rtf", "application/rtf"),
    (0, b"PK\x03\x04", ZIP),
    (0, b"PK\x05\x06", ZIP),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
)
_FTYP = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"isom": "video/mp4",
    b"iso2": "video/mp4",
    b"mp41": "video/mp4",
    b"mp42": "video/mp4",
    b"avc1": "video/mp4",
    b"M4V ": "video/mp4",
    b"M4A ": "audio/mp4",
    b"qt  ": "video/quicktime",
}
_ODF = {
    b"application/vnd.oasis.opendocument.text": "application/vnd.oasis.opendocument.text",
    b"application/vnd.oasis.opendocument.spreadsheet": "application/vnd.oasis.opendocument.spreadsheet",
    b"application/vnd.oasis.opendocument.presentation": "application/vnd.oasis.opendocument.presentation",
}


def sniff(path: Path) -> str | None:
    """The file's media type, or None when chatd does not accept it."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    found = _from_magic(head)
    if found == ZIP:
        return _zip_flavour(path)
    if found is not None:
        return found
    return _text(head)


def _from_magic(head: bytes) -> str | None:
    for offset, magic, media_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12])
    if head[:2] == b"\xff\xfb" or head[:2] == b"\xff\xf3":
        return "audio/mpeg"
    return None


def _zip_flavour(path: Path) -> str | None:
    """Office documents are zips; tell them apart by what they hold. A broken zip is refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                odf = _ODF.get(archive.read("mimetype")[:100].strip())
                if odf is not None:
                    return odf
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" in names:
        for prefix, media_type in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
            if any(n.startswith(prefix) for n in names):
                return media_type
    return ZIP


def _text(head: bytes) -> str | None:
    """Plain text (CSV, TXT...) in UTF-8; markup that a browser would run is refused."""
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end inside a multi-byte character.
        if exc.start < len(head) - 4:
            return None
        text = head[: exc.start].decode("utf-8")
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        return None  # HTML, SVG, XML
    return "text/plain; charset=utf-8"
