"""Which modality a file or an upload is: one detector for the CLI, the pipeline and the server.

Rules, in order:

1. **Content.** Magic bytes name the format (PNG, JPEG, GIF, WebP, BMP, TIFF; RIFF/WAVE, FLAC,
   Ogg, MP3; ISO-BMFF `ftyp`, Matroska/WebM, AVI; NumPy) and so the modality, whatever the name
   says. A 16-bit grayscale PNG is depth; an MP4-family file with an audio brand (`M4A `, `M4B `)
   is audio. When the extension promises another modality the file is still taken by its content
   and the mismatch is reported (`Detection.warning`: "a JPEG named .wav").
2. **Extension**, for formats without magic bytes: text (`.txt`, `.md`, ...), IMU `.csv` (first
   data row of 6 numbers, accelerometer then gyroscope xyz, or 7 with a leading timestamp), and
   media whose header was not recognised (MPEG program/transport streams, raw AAC): the decoder
   then decides.
3. **MIME type** of an upload (`image/*`, `video/*`, `audio/*`, `text/plain`), when there is one.
4. Anything else is unsupported and reported, never guessed.

Thermal images look like any grayscale image, so they are never detected: name the modality
explicitly (`openbind embed --as thermal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openbind.types import Modality

HEAD_BYTES = 64
"""How many leading bytes `detect` looks at."""

EXTENSIONS: dict[str, Modality] = {
    **dict.fromkeys(
        (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"), Modality.IMAGE
    ),
    **dict.fromkeys(
        (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg"), Modality.VIDEO
    ),
    **dict.fromkeys(
        (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac"), Modality.AUDIO
    ),
    **dict.fromkeys((".txt", ".text", ".md", ".caption"), Modality.TEXT),
    **dict.fromkeys((".npy", ".npz"), Modality.DEPTH),
    ".csv": Modality.IMU,
}

_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ")


@dataclass(frozen=True)
class Detection:
    """What a file or upload is.

    Attributes:
        modality: what it will be embedded as; None when unsupported.
        format: the format its content shows ("JPEG", "WAV", ...), None when unrecognised.
        warning: set when the name or MIME type promises another modality than the content.
    """

    modality: Modality | None
    format: str | None = None
    warning: str | None = None


def detect(path: str | Path, head: bytes | None = None) -> Modality | None:
    """The modality of the file at `path`, or None if it is not a supported kind.

    Args:
        path: the file.
        head: its first `HEAD_BYTES` bytes, if already read (else they are read).
    """
    return detect_file(path, head).modality


def detect_file(path: str | Path, head: bytes | None = None) -> Detection:
    """`identify` for a file on disk (reads its head, and the first rows of a CSV)."""
    path = Path(path)
    if head is None:
        head = _head(path)
    csv_ok = path.suffix.lower() == ".csv" and _is_imu_csv(path)
    return identify(head, path.name, imu_csv=csv_ok)


def identify(
    head: bytes,
    name: str | None = None,
    *,
    mime: str | None = None,
    imu_csv: bool = False,
) -> Detection:
    """The modality of content that starts with `head`, named `name`, sent as `mime`.

    Args:
        head: the first bytes (at least `HEAD_BYTES` when there are that many).
        name: a file name, whose extension is used when the content has no magic bytes.
        mime: an upload's MIME type, used last.
        imu_csv: the content is a CSV whose first rows look like IMU samples.
    """
    suffix = Path(name or "").suffix.lower()
    by_name = EXTENSIONS.get(suffix)
    found = magic(head)
    if found is not None:
        fmt, modality = found
        warning = None
        if by_name is not None and by_name is not modality and not _refines(suffix, modality):
            warning = f"{_article(fmt)} {fmt} named {suffix}: embedded as {modality.value}"
        return Detection(modality, fmt, warning)
    if by_name is Modality.IMU:
        return Detection(Modality.IMU if imu_csv else None, "CSV" if imu_csv else None)
    if by_name is not None:
        return Detection(by_name)
    major = (mime or "").split(";")[0].strip().lower()
    if major in _TEXT_TYPES:
        return Detection(Modality.TEXT)
    return Detection(_MAJOR_TYPES.get(major.split("/")[0]))


def sniff(head: bytes) -> Modality | None:
    """The modality named by a file's magic bytes, or None."""
    found = magic(head)
    return None if found is None else found[1]


def magic(head: bytes) -> tuple[str, Modality] | None:
    """The format and modality named by a file's magic bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ("PNG", Modality.DEPTH if _png_is_16bit_gray(head) else Modality.IMAGE)
    for prefix, fmt in _IMAGE_MAGIC:
        if head.startswith(prefix):
            return fmt, Modality.IMAGE
    if head[:4] == b"RIFF":
        return _RIFF.get(head[8:12])
    for prefix, fmt in _AUDIO_MAGIC:
        if head.startswith(prefix):
            return fmt, Modality.AUDIO
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "MP3", Modality.AUDIO
    if head[4:8] == b"ftyp":
        return ("M4A", Modality.AUDIO) if head[8:12] in _AUDIO_BRANDS else ("MP4", Modality.VIDEO)
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "Matroska", Modality.VIDEO
    if head.startswith(b"\x93NUMPY") or (head.startswith(b"PK\x03\x04") and b".npy" in head):
        return "NumPy", Modality.DEPTH
    return None


_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_AUDIO_MAGIC = ((b"fLaC", "FLAC"), (b"OggS", "Ogg"), (b"ID3", "MP3"))
_RIFF = {
    b"WEBP": ("WebP", Modality.IMAGE),
    b"WAVE": ("WAV", Modality.AUDIO),
    b"AVI ": ("AVI", Modality.VIDEO),
}
_MP4_FAMILY = (".mp4", ".mov", ".m4v", ".m4a")
_MAJOR_TYPES = {"image": Modality.IMAGE, "video": Modality.VIDEO, "audio": Modality.AUDIO}
_TEXT_TYPES = ("text/plain", "text/markdown")


def _refines(suffix: str, content: Modality) -> bool:
    """Whether content legitimately narrows what the extension says (not a misleading name)."""
    if suffix in (".png", ".tif", ".tiff") and content is Modality.DEPTH:
        return True
    return suffix in _MP4_FAMILY and content in (Modality.AUDIO, Modality.VIDEO)


def _article(word: str) -> str:
    return "an" if word in ("MP3", "MP4", "M4A", "Ogg", "AVI") else "a"


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError:
        return b""


def _png_is_16bit_gray(head: bytes) -> bool:
    # signature (8) + IHDR length (4) + b"IHDR" (4) + width (4) + height (4) + bit depth + colour type
    return len(head) >= 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] == 0


def _is_imu_csv(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [f.readline() for _ in range(2)]
    except OSError:
        return False
    for line in lines:
        cells = [c.strip() for c in line.strip().split(",")]
        if len(cells) in (6, 7) and all(_is_number(c) for c in cells):
            return True
    return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
