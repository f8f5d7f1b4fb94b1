"""Multipart uploads streamed to temporary files, hashed and size-checked as the bytes arrive.

Nothing is held whole in memory: python-multipart's push parser hands over each chunk of a part,
which goes straight to a file in the upload directory (the blob store's file system, so storing
is a rename). A part over the size limit stops the upload at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from chatd import errors


@dataclass
class UploadedFile:
    """One file part, on disk in a temporary file owned by the caller."""

    name: str
    path: Path
    size: int = 0
    sha256: str = ""


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    handle: IO[bytes] | None = None
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    file: UploadedFile | None = None


class MultipartReceiver:
    """Feeds request chunks to the parser; collects the ``file`` parts as UploadedFiles."""

    def __init__(self, content_type: str, tmp_dir: Path, *, max_file_bytes: int, max_files: int) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise errors.BadRequest("send the files as multipart/form-data")
        self.files: list[UploadedFile] = []
        self._tmp_dir = tmp_dir
        self._max_file_bytes = max_file_bytes
        self._max_files = max_files
        self._part = _Part()
        self._field = b""
        self._value = b""
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._end,
            },
        )

    async def receive(self, chunks: AsyncIterator[bytes]) -> list[UploadedFile]:
        try:
            async for chunk in chunks:
                self._parser.write(chunk)
            self._parser.finalize()
        except MultipartParseError as exc:
            raise errors.BadRequest(f"malformed multipart body: {exc}") from None
        finally:
            self._close_handle()
        if self._part.file is not None and self._part.file not in self.files:
            raise errors.BadRequest("the multipart body ended inside a file")
        if not self.files:
            raise errors.BadRequest('no file: send each file as a part named "file" with a filename')
        return self.files

    def discard(self) -> None:
        """Remove every temporary file (an error, or the files were stored elsewhere)."""
        self._close_handle()
        pending = [*self.files, *([self._part.file] if self._part.file else [])]
        for upload in pending:
            with contextlib.suppress(FileNotFoundError):
                upload.path.unlink()

    # -- parser callbacks --

    def _begin(self) -> None:
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file" or b"filename" not in options:
            return  # other form fields are ignored
        if len(self.files) >= self._max_files:
            raise errors.BadRequest(f"at most {self._max_files} files per upload")
        fd, path = tempfile.mkstemp(dir=self._tmp_dir, prefix="upload-")
        self._part.handle = os.fdopen(fd, "wb")
        self._part.file = UploadedFile(name=options[b"filename"].decode("utf-8", "replace"), path=Path(path))

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.handle is None or part.file is None:
            return
        part.file.size += end - start
        if part.file.size > self._max_file_bytes:
            raise errors.TooLarge(f"{part.file.name!r} is over {self._max_file_bytes} bytes")
        chunk = data[start:end]
        part.digest.update(chunk)
        part.handle.write(chunk)

    def _end(self) -> None:
        part = self._part
        if part.file is None:
            return
        self._close_handle()
        part.file.sha256 = part.digest.hexdigest()
        self.files.append(part.file)

    def _close_handle(self) -> None:
        if self._part.handle is not None:
            self._part.handle.close()
            self._part.handle = None
