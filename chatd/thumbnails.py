"""Small JPEG previews of uploaded images, made with Pillow off the event loop by the caller."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import warnings
from pathlib import Path

from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

SIZE = (320, 320)
# Refuse to decode images that would take more memory than a thumbnail is worth (decompression bombs).
MAX_PIXELS = 40_000_000


def make_thumbnail(source: Path, tmp_dir: Path) -> tuple[Path, str] | None:
    """A thumbnail file and its SHA-256, or None when the image cannot be read safely."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.draft("RGB", SIZE)
                preview = ImageOps.exif_transpose(image)
                preview.thumbnail(SIZE)
                flat = Image.new("RGB", preview.size, "white")
                rgba = preview.convert("RGBA")
                flat.paste(rgba, mask=rgba.getchannel("A"))
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        logger.info("no thumbnail for an upload: %s", exc)
        return None
    with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="thumb-", suffix=".jpg", delete=False) as handle:
        flat.save(handle, "JPEG", quality=80)
    target = Path(handle.name)
    return target, hashlib.sha256(target.read_bytes()).hexdigest()
