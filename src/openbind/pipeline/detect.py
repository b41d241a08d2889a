"""Which modality a file is: by extension first, then by its first bytes.

Rules, in order:

1. Known extension (`EXTENSIONS`), refined by content where one extension can hold two
   modalities:
   * `.png` whose header says 16-bit grayscale (IHDR bit depth 16, colour type 0) is depth;
     other PNGs are images.
   * `.npy` / `.npz` arrays are depth maps.
   * `.csv` is IMU when its first data row has 6 numbers (accelerometer x, y, z then gyroscope
     x, y, z) or 7 (a leading timestamp); other CSV files are unsupported.
   * `.mp4` / `.m4a` / `.mov` containers whose brand is an audio brand (`M4A `, `M4B `) are audio.
2. Unknown or missing extension: magic bytes (PNG, JPEG, GIF, WebP, BMP, TIFF; RIFF/WAVE, FLAC,
   Ogg, MP3; ISO-BMFF `ftyp`, Matroska/WebM, AVI; NumPy).
3. Anything else is unsupported and reported, never guessed.

Thermal images look like any grayscale image, so they are never detected: name the modality
explicitly (`openbind embed --as thermal`).
"""

from __future__ import annotations

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


def detect(path: str | Path, head: bytes | None = None) -> Modality | None:
    """The modality of the file at `path`, or None if it is not a supported kind.

    Args:
        path: the file (its name decides first).
        head: its first `HEAD_BYTES` bytes, if already read (else they are read when needed).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    by_name = EXTENSIONS.get(suffix)
    if by_name is Modality.TEXT:
        return by_name
    if head is None:
        head = _head(path)
    if by_name is None:
        return sniff(head)
    if suffix == ".png" and _png_is_16bit_gray(head):
        return Modality.DEPTH
    if suffix == ".csv":
        return Modality.IMU if _is_imu_csv(path) else None
    if by_name is Modality.VIDEO and head[4:8] == b"ftyp" and head[8:12] in _AUDIO_BRANDS:
        return Modality.AUDIO
    return by_name


def sniff(head: bytes) -> Modality | None:
    """The modality named by a file's magic bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Modality.DEPTH if _png_is_16bit_gray(head) else Modality.IMAGE
    if head.startswith((b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")):
        return Modality.IMAGE
    if head[:4] == b"RIFF":
        return {b"WEBP": Modality.IMAGE, b"WAVE": Modality.AUDIO, b"AVI ": Modality.VIDEO}.get(
            head[8:12]
        )
    if head.startswith((b"fLaC", b"OggS", b"ID3")) or head[:2] in (
        b"\xff\xfb",
        b"\xff\xf3",
        b"\xff\xf2",
    ):
        return Modality.AUDIO
    if head[4:8] == b"ftyp":
        return Modality.AUDIO if head[8:12] in _AUDIO_BRANDS else Modality.VIDEO
    if head.startswith(b"\x1aE\xdf\xa3"):
        return Modality.VIDEO
    if head.startswith(b"\x93NUMPY") or (head.startswith(b"PK\x03\x04") and b".npy" in head):
        return Modality.DEPTH
    return None


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
