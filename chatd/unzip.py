"""Expanding an uploaded zip into its files, with limits that stop zip bombs and path tricks.

The declared sizes in a zip's directory can lie, so they are checked first (cheap refusal) and
the bytes actually written are counted again while extracting.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from chatd import errors
from chatd.uploads import UploadedFile

CHUNK = 64 * 1024


@dataclass(frozen=True)
class ZipLimits:
    max_files: int
    max_total_bytes: int
    max_file_bytes: int
    max_ratio: int


def expand(archive_path: Path, tmp_dir: Path, limits: ZipLimits) -> list[UploadedFile]:
    """The archive's files as temporary files; on any refusal nothing is left behind."""
    extracted: list[UploadedFile] = []
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            _check(members, limits)
            total = 0
            for member in members:
                upload = _extract(archive, member, tmp_dir, limits, limit=limits.max_total_bytes - total)
                extracted.append(upload)
                total += upload.size
    except (zipfile.BadZipFile, NotImplementedError) as exc:
        _remove(extracted)
        raise errors.BadRequest(f"not a readable zip: {exc}") from None
    except BaseException:
        _remove(extracted)
        raise
    if not extracted:
        raise errors.BadRequest("the zip holds no files")
    return extracted


def safe_name(raw: str) -> str:
    """A member's path, refused when it could climb out of a folder or name an absolute path."""
    name = raw.replace("\\", "/")
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise errors.BadRequest(f"unsafe path in zip: {raw!r}")
    cleaned = posixpath.normpath(name).lstrip("./")
    if not cleaned or any(ord(c) < 32 for c in cleaned):
        raise errors.BadRequest(f"unsafe path in zip: {raw!r}")
    return cleaned


def _check(members: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    if len(members) > limits.max_files:
        raise errors.TooLarge(f"the zip holds {len(members)} files; at most {limits.max_files}")
    for member in members:
        safe_name(member.filename)
        if member.flag_bits & 0x1:
            raise errors.BadRequest(f"{member.filename!r} is encrypted")
        if member.file_size > limits.max_file_bytes:
            raise errors.TooLarge(f"{member.filename!r} is over {limits.max_file_bytes} bytes")
        if member.file_size > limits.max_ratio * max(member.compress_size, 1):
            raise errors.TooLarge(f"{member.filename!r} expands over {limits.max_ratio} times: refused as a zip bomb")
    if sum(m.file_size for m in members) > limits.max_total_bytes:
        raise errors.TooLarge(f"the zip expands to over {limits.max_total_bytes} bytes")


def _extract(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, tmp_dir: Path, limits: ZipLimits, *, limit: int
) -> UploadedFile:
    name = safe_name(member.filename)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="unzip-", delete=False) as out:
        upload = UploadedFile(name=name, path=Path(out.name))
        try:
            with archive.open(member) as source:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    # Never trust the directory: stop at what it declared, and at the limits.
                    if size > member.file_size or size > limit or size > limits.max_file_bytes:
                        raise errors.TooLarge(f"{name!r} expands beyond what the zip declares or allows")
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            out.close()
            upload.path.unlink()
            raise
    upload.size = size
    upload.sha256 = digest.hexdigest()
    return upload


def _remove(files: list[UploadedFile]) -> None:
    for upload in files:
        with contextlib.suppress(FileNotFoundError):
            upload.path.unlink()
