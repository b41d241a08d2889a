"""A small collection of real media for demos and tests, built offline and cached.

`build_samples()` writes, under `$OPENBIND_HOME/samples/v1` (default `~/.cache/openbind`):

* images: real photographs shipped with scikit-image (astronaut, coffee, Chelsea the cat, a
  rocket, a motorcycle, the Hubble deep field, ...);
* videos: short H.264 clips made with PyAV (pans and zooms over those photos, a bouncing ball);
* audio: speech spoken by espeak-ng, and sounds made with numpy (tone, chirp, noise, chord,
  metronome), written with soundfile;
* text: short notes (.txt).

Every file's caption is known (`Sample.caption`) and stored in `samples.json` beside them. The
build is deterministic; a finished collection is reused as long as its files are all there.
Speech needs the `espeak-ng` program; without it the speech clips are left out and listed in
`SampleSet.missing`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openbind.errors import UnknownId, require
from openbind.types import Modality

VERSION = "v1"
MANIFEST = "samples.json"
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Sample:
    """One file of the collection.

    Attributes:
        name: file name relative to the collection folder ("images/chelsea.png").
        modality: what it is.
        caption: what it shows or says, in a few words.
        topic: the subject it shares with other files ("cat", "rocket", ...), for demos.
    """

    name: str
    modality: Modality
    caption: str
    topic: str


@dataclass(frozen=True)
class SampleSet:
    """A built collection.

    Attributes:
        root: the folder holding the files.
        samples: the files that exist, in a fixed order.
        missing: planned files that could not be made, with the reason.
    """

    root: Path
    samples: tuple[Sample, ...]
    missing: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        """The absolute path of the sample called `name`."""
        return self.root / name

    def get(self, name: str) -> Sample:
        """The sample called `name` (e.g. "images/chelsea.png").

        Raises:
            UnknownId: no sample has that name.
        """
        for s in self.samples:
            if s.name == name:
                return s
        raise UnknownId(name, where=str(self.root))

    def by_modality(self, modality: Modality | str) -> list[Sample]:
        m = Modality.parse(modality)
        return [s for s in self.samples if s.modality is m]

    def caption(self, path: str | Path) -> str | None:
        """The caption of the file at `path` (None if it is not a sample)."""
        p = Path(path).resolve()
        for s in self.samples:
            if (self.root / s.name).resolve() == p:
                return s.caption
        return None


# -- what the collection holds --------------------------------------------------------------------

# (file, skimage function, caption, topic)
IMAGES = (
    ("astronaut.png", "astronaut", "an astronaut in a white space suit", "astronaut"),
    ("coffee.png", "coffee", "a cup of coffee on a saucer", "coffee"),
    ("chelsea.png", "chelsea", "a tabby cat", "cat"),
    ("rocket.jpg", "rocket", "a rocket on the launch pad", "rocket"),
    ("motorcycle.png", "motorcycle", "a red motorcycle", "motorcycle"),
    ("hubble.jpg", "hubble_deep_field", "galaxies in the deep night sky", "space"),
    ("coins.png", "coins", "old coins on a table", "coins"),
    ("camera.png", "camera", "a photographer with a camera", "camera"),
    ("moon.png", "moon", "the cratered surface of the moon", "moon"),
    ("bricks.png", "brick", "a brick wall", "bricks"),
)

# (file, kind, caption, topic); kinds are made by _video_* below.
VIDEOS = (
    ("cat_pan.mp4", "pan:chelsea", "the camera pans across a tabby cat", "cat"),
    ("rocket_zoom.mp4", "zoom:rocket", "zooming in on a rocket on the launch pad", "rocket"),
    ("coffee_pan.mp4", "pan:coffee", "the camera pans over a cup of coffee", "coffee"),
    ("red_ball.mp4", "ball", "a red ball bouncing on a white background", "ball"),
)

SPEECH = (
    ("speech_cat.wav", "The cat is sleeping on the sofa.", "cat"),
    ("speech_rocket.wav", "Three, two, one, lift off! The rocket is launching.", "rocket"),
    ("speech_coffee.wav", "I would like a cup of hot coffee, please.", "coffee"),
)

SOUNDS = (
    ("tone_440hz.wav", "tone", "a steady 440 hertz sine tone", "tone"),
    ("chirp.wav", "chirp", "a rising chirp from low to high pitch", "chirp"),
    ("white_noise.wav", "noise", "white noise, like static", "noise"),
    ("c_major_chord.wav", "chord", "a C major chord on a synthesizer", "music"),
    ("metronome.wav", "metronome", "a metronome ticking at 120 beats per minute", "music"),
)

NOTES = (
    ("cat.txt", "A fluffy tabby cat naps in the afternoon sun.", "cat"),
    (
        "rocket.txt",
        "At dawn the rocket lifts off from the launch pad in a cloud of smoke.",
        "rocket",
    ),
    ("coffee.txt", "Morning espresso in a white cup on a saucer.", "coffee"),
    ("motorcycle.txt", "A motorcycle parked in the garage, ready for a ride.", "motorcycle"),
    ("space.txt", "Thousands of galaxies glow in a deep field picture of the night sky.", "space"),
)


# -- building -------------------------------------------------------------------------------------


def samples_dir() -> Path:
    """Where the collection is cached: `$OPENBIND_HOME/samples/v1` (default home ~/.cache/openbind)."""
    home = os.environ.get("OPENBIND_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "openbind"
    return base / "samples" / VERSION


def build_samples(root: str | Path | None = None, *, force: bool = False) -> SampleSet:
    """Build the sample collection in `root` (default `samples_dir()`), or reuse a finished one.

    Args:
        root: the folder to fill.
        force: rebuild even if a complete collection is there.

    Returns:
        The collection; `missing` lists files that could not be made here (e.g. speech without
        espeak-ng).

    Raises:
        MissingExtra: scikit-image is not installed (`pip install 'openbind[samples]'`).
    """
    root = Path(root) if root is not None else samples_dir()
    if not force:
        cached = load_samples(root)
        if cached is not None:
            return cached
    require("skimage", "samples")
    root.mkdir(parents=True, exist_ok=True)
    made: list[Sample] = []
    missing: dict[str, str] = {}
    for name, modality, caption, topic, make in _plan():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _atomic_write(target, make)
        except _Unavailable as e:
            missing[name] = str(e)
            continue
        made.append(Sample(name, modality, caption, topic))
    result = SampleSet(root, tuple(made), missing)
    _write_manifest(result)
    return result


def load_samples(root: str | Path | None = None) -> SampleSet | None:
    """The collection in `root` if it is complete (manifest present, every file there), else None."""
    root = Path(root) if root is not None else samples_dir()
    try:
        data = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if data.get("version") != VERSION:
        return None
    samples = tuple(
        Sample(s["name"], Modality.parse(s["modality"]), s["caption"], s["topic"])
        for s in data["samples"]
    )
    if not all((root / s.name).is_file() for s in samples):
        return None
    return SampleSet(root, samples, dict(data.get("missing", {})))


class _Unavailable(Exception):
    """A sample cannot be made on this machine (a tool is missing)."""


def _plan() -> list[tuple[str, Modality, str, str, Callable[[Path], None]]]:
    plan: list[tuple[str, Modality, str, str, Callable[[Path], None]]] = []
    for file, func, caption, topic in IMAGES:
        plan.append((f"images/{file}", Modality.IMAGE, caption, topic, _image_maker(func)))
    for file, kind, caption, topic in VIDEOS:
        plan.append((f"videos/{file}", Modality.VIDEO, caption, topic, _video_maker(kind)))
    for file, text, topic in SPEECH:
        plan.append(
            (f"audio/{file}", Modality.AUDIO, f"a voice saying: {text}", topic, _speech_maker(text))
        )
    for file, kind, caption, topic in SOUNDS:
        plan.append((f"audio/{file}", Modality.AUDIO, caption, topic, _sound_maker(kind)))
    for file, text, topic in NOTES:
        plan.append((f"notes/{file}", Modality.TEXT, text, topic, _text_maker(text)))
    return plan


def _atomic_write(target: Path, make: Callable[[Path], None]) -> None:
    """Run `make(tmp)` and move the result to `target`, so a killed build leaves no half file."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        make(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_manifest(result: SampleSet) -> None:
    data = {
        "version": VERSION,
        "samples": [
            {"name": s.name, "modality": s.modality.value, "caption": s.caption, "topic": s.topic}
            for s in result.samples
        ],
        "missing": result.missing,
    }
    _atomic_write(result.root / MANIFEST, lambda p: p.write_text(json.dumps(data, indent=1) + "\n"))


# -- images -----------------------------------------------------------------------------------


def _photo(func: str) -> np.ndarray:
    """A scikit-image photograph as (H, W, 3) uint8 (grey ones repeated to RGB)."""
    import skimage.data

    if func == "motorcycle":
        array = skimage.data.stereo_motorcycle()[0]
    else:
        array = getattr(skimage.data, func)()
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = (255 * (array.astype(np.float64) / max(1, array.max()))).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def _image_maker(func: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        from PIL import Image

        fmt = "JPEG" if path.suffix.lower() == ".jpg" else "PNG"
        Image.fromarray(_photo(func)).save(
            path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {})
        )

    return make


# -- videos -----------------------------------------------------------------------------------

VIDEO_SIZE = 224
VIDEO_FPS = 12
VIDEO_SECONDS = 2.0


def _video_maker(kind: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        n = int(VIDEO_FPS * VIDEO_SECONDS)
        if kind == "ball":
            frames = [_ball_frame(t / n) for t in range(n)]
        else:
            motion, func = kind.split(":")
            photo = _photo(func)
            frames = [_view(photo, t / max(1, n - 1), motion) for t in range(n)]
        _write_video(path, frames)

    return make


def _view(photo: np.ndarray, t: float, motion: str) -> np.ndarray:
    """A VIDEO_SIZE square view of `photo` at time t in [0, 1]: a left-to-right pan or a zoom-in."""
    from PIL import Image

    h, w = photo.shape[:2]
    if motion == "pan":
        side = min(h, w)
        x = round(t * (w - side))
        box = (x, 0, x + side, side)
    else:
        side = min(h, w) * (1.0 - 0.45 * t)
        cx, cy = w / 2, h / 2
        box = (
            round(cx - side / 2),
            round(cy - side / 2),
            round(cx + side / 2),
            round(cy + side / 2),
        )
    crop = (
        Image.fromarray(photo).crop(box).resize((VIDEO_SIZE, VIDEO_SIZE), Image.Resampling.BILINEAR)
    )
    return np.asarray(crop)


def _ball_frame(t: float) -> np.ndarray:
    """A red ball bouncing across a white frame at time t in [0, 1)."""
    s = VIDEO_SIZE
    frame = np.full((s, s, 3), 255, dtype=np.uint8)
    radius = s // 8
    cx = radius + (s - 2 * radius) * t
    cy = s - radius - (s - 2 * radius) * abs(math.sin(2 * math.pi * t))
    yy, xx = np.mgrid[0:s, 0:s]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    frame[inside] = (220, 30, 30)
    return frame


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width, stream.height = VIDEO_SIZE, VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "medium", "threads": "1"}
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# -- audio --------------------------------------------------------------------------------------


def _speech_maker(text: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise _Unavailable("espeak-ng is not installed (apt-get install espeak-ng)")
        raw = path.with_suffix(".raw.wav")
        try:
            subprocess.run(
                [exe, "-v", "en-us", "-s", "150", "-w", str(raw), text],
                check=True,
                capture_output=True,
                timeout=60,
            )
            _resample_to(raw, path)
        finally:
            raw.unlink(missing_ok=True)

    return make


def _resample_to(src: Path, dst: Path) -> None:
    """Rewrite espeak-ng's output (22.05 kHz) as 16 kHz mono 16-bit PCM."""
    import soundfile as sf

    wave, rate = sf.read(str(src), dtype="float64", always_2d=True)
    mono = wave.mean(axis=1)
    n = round(len(mono) * SAMPLE_RATE / rate)
    resampled = np.interp(np.arange(n) * rate / SAMPLE_RATE, np.arange(len(mono)), mono)
    sf.write(str(dst), resampled.astype(np.float32), SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _sound_maker(kind: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        import soundfile as sf

        sf.write(
            str(path), _sound(kind).astype(np.float32), SAMPLE_RATE, subtype="PCM_16", format="WAV"
        )

    return make


def _sound(kind: str, seconds: float = 2.0) -> np.ndarray:
    """A generated mono sound in [-1, 1] at SAMPLE_RATE."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)  # 20 ms fades, no clicks
    if kind == "tone":
        wave = np.sin(2 * np.pi * 440 * t)
    elif kind == "chirp":
        f0, f1 = 200.0, 4000.0
        wave = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))
    elif kind == "noise":
        wave = np.random.default_rng(0).uniform(-1, 1, t.shape)
    elif kind == "chord":
        wave = (
            sum(
                np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)
                for f in (261.63, 329.63, 392.0)
            )
            / 4
        )
    elif kind == "metronome":
        beat = (t % 0.5) < 0.03
        wave = beat * np.sin(2 * np.pi * 1500 * t) * np.exp(-(t % 0.5) * 120)
    else:
        raise ValueError(f"unknown sound {kind!r}")
    return 0.5 * wave * fade


# -- text -----------------------------------------------------------------------------------------


def _text_maker(text: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(text + "\n", encoding="utf-8")

    return make
