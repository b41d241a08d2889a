"""A generated multimodal world: scenes of concepts, seen, heard, described and sensed.

Every scene has one concept: a shape x a colour x a motion (4 x 4 x 4 = 64 concepts). It is
rendered deterministically from `(seed, index)` in seven modalities, each tied to the concept
through a different channel and each with nuisance variation, so that binding one modality to
another has to learn the concept rather than copy pixels:

| modality | what carries the concept | nuisance |
|---|---|---|
| image   | shape outline, fill colour, faded trail opposite to the motion | position, size, background grey and noise |
| video   | the shape moving in its direction over 8 frames (audio track: the sound) | as image |
| audio   | colour -> pitch, shape -> timbre (sine / square / triangle / saw), motion -> rhythm | pitch +-3 %, loudness, noise colour (white / pink / brown) and level |
| text    | a caption from one of several templates | template, word order |
| depth   | the shape nearer than a sloping background (uint16 millimetres) | distance, background slope |
| thermal | the shape's temperature set by its colour (8-bit, -10..70 C) | ambient temperature, sensor noise |
| imu     | camera motion: yaw or pitch rate and the matching acceleration pulse (6 x 100 at 100 Hz) | gyro bias, noise |

`write_world` writes the files and a `manifest.csv` (one column per modality plus `label`,
`shape`, `colour`, `motion`), usable directly as training data (`openbind train`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow")
MOTIONS = ("left", "right", "up", "down")

RGB = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 210, 40),
}
PITCH_HZ = {"red": 220.0, "green": 294.0, "blue": 392.0, "yellow": 523.0}
PULSES_PER_S = {"left": 0.0, "right": 2.0, "up": 4.0, "down": 8.0}  # 0: a continuous tone
TEMPERATURE_C = {"red": 62.0, "yellow": 45.0, "green": 28.0, "blue": 4.0}
DIRECTION = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
TEMPLATES = (
    "a {colour} {shape} moving {motion}",
    "the {shape} is {colour} and moves {motion}",
    "a {shape}, {colour}, going {motion}",
    "{colour} {shape} heading {motion}",
)
MODALITIES = ("image", "video", "audio", "text", "depth", "thermal", "imu")


@dataclass(frozen=True)
class Concept:
    """What a scene shows: one shape, colour and motion."""

    shape: str
    colour: str
    motion: str

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape} {self.motion}"


def concepts() -> list[Concept]:
    """All 64 concepts, in a fixed order."""
    return [Concept(s, c, m) for s in SHAPES for c in COLOURS for m in MOTIONS]


@dataclass(frozen=True)
class Scene:
    """One generated scene: its concept and the nuisance parameters every rendering shares."""

    index: int
    concept: Concept
    x: float  # centre, as a fraction of the image width
    y: float
    size: float  # shape radius, as a fraction of the image width
    background: int  # grey level
    distance_m: float
    ambient_c: float
    template: int
    seed: int

    def rng(self, stream: int) -> np.random.Generator:
        """An RNG for one rendering, independent of the others and of the order of calls."""
        return np.random.default_rng([self.seed, self.index, stream])


def scene(index: int, seed: int = 0) -> Scene:
    """Scene `index` of the world `seed` (concepts cycle through a seeded shuffle)."""
    rng = np.random.default_rng([seed, index])
    all_concepts = concepts()
    return Scene(
        index=index,
        concept=all_concepts[int(rng.integers(len(all_concepts)))],
        x=float(rng.uniform(0.3, 0.7)),
        y=float(rng.uniform(0.3, 0.7)),
        size=float(rng.uniform(0.14, 0.24)),
        background=int(rng.integers(70, 170)),
        distance_m=float(rng.uniform(0.8, 2.5)),
        ambient_c=float(rng.uniform(12, 26)),
        template=int(rng.integers(len(TEMPLATES))),
        seed=seed,
    )


def caption(s: Scene) -> str:
    c = s.concept
    return TEMPLATES[s.template].format(shape=c.shape, colour=c.colour, motion=c.motion)


def _mask(shape: str, size: int, cx: float, cy: float, r: float) -> Image.Image:
    """A white-on-black mask of the shape centred at (cx, cy) pixels with radius r pixels."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=255)
    elif shape == "square":
        draw.rectangle((cx - 0.85 * r, cy - 0.85 * r, cx + 0.85 * r, cy + 0.85 * r), fill=255)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + 0.8 * r), (cx + r, cy + 0.8 * r)], fill=255)
    else:  # cross
        w = 0.35 * r
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=255)
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=255)
    return mask


def render_image(s: Scene, size: int = 64, *, shift: float = 0.0, trail: bool = True) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the shape on a noisy grey background, with a faded trail
    behind it (opposite to the motion); `shift` moves it along its motion (fraction of width)."""
    rng = s.rng(1)
    dx, dy = DIRECTION[s.concept.motion]
    canvas = np.full((size, size, 3), s.background, dtype=np.float32)
    canvas += rng.normal(0, 12, size=canvas.shape)
    cx, cy, r = (s.x + dx * shift) * size, (s.y + dy * shift) * size, s.size * size
    colour = np.array(RGB[s.concept.colour], dtype=np.float32) + rng.normal(0, 10, 3)
    steps = ((0.9, 0.25), (0.45, 0.5), (0.0, 1.0)) if trail else ((0.0, 1.0),)
    for back, alpha in steps:  # ghosts first, the shape itself last
        m = (
            np.asarray(
                _mask(s.concept.shape, size, cx - dx * back * r, cy - dy * back * r, r),
                dtype=np.float32,
            )[..., None]
            / 255
        )
        canvas = canvas * (1 - alpha * m) + colour * alpha * m
    return np.clip(canvas, 0, 255).astype(np.uint8)


def render_video(s: Scene, size: int = 64, frames: int = 8) -> np.ndarray:
    """(frames, size, size, 3) uint8: the shape moving 0.3 of the width in its direction."""
    return np.stack(
        [
            render_image(s, size, shift=0.3 * (t / (frames - 1) - 0.5), trail=False)
            for t in range(frames)
        ]
    )


def render_sound(s: Scene, sample_rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    """(n,) float32 mono in [-1, 1]: pitch from the colour, timbre from the shape, rhythm from the
    motion, plus coloured background noise."""
    rng = s.rng(2)
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    f0 = PITCH_HZ[s.concept.colour] * rng.uniform(0.97, 1.03)
    phase = 2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi)
    shape = s.concept.shape
    if shape == "circle":
        tone = np.sin(phase)
    elif shape == "square":
        tone = np.tanh(4 * np.sin(phase))
    elif shape == "triangle":
        tone = 2 / np.pi * np.arcsin(np.sin(phase))
    else:  # cross: sawtooth
        tone = 2 * ((phase / (2 * np.pi)) % 1.0) - 1
    rate = PULSES_PER_S[s.concept.motion]
    envelope = np.ones(n) if rate == 0 else (np.sin(np.pi * ((t * rate) % 1.0)) ** 2)
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    sound = rng.uniform(0.4, 0.8) * tone * envelope * fade
    noise = _coloured_noise(rng, n, ("white", "pink", "brown")[int(rng.integers(3))])
    sound = sound + rng.uniform(0.02, 0.1) * noise
    return np.clip(sound, -1, 1).astype(np.float32)


def _coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.arange(len(spectrum)) + 1.0
    spectrum /= {"white": 1.0, "pink": np.sqrt(f), "brown": f}[colour]
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.abs(noise).max() + 1e-9)


def render_depth(s: Scene, size: int = 64) -> np.ndarray:
    """(size, size) uint16 depth in millimetres: a sloping background 3-5 m, the shape nearer."""
    rng = s.rng(3)
    rows = np.linspace(5.0, 3.0, size)[:, None] * np.ones((1, size)) * rng.uniform(0.9, 1.1)
    mask = np.asarray(_mask(s.concept.shape, size, s.x * size, s.y * size, s.size * size)) > 127
    depth = np.where(mask, s.distance_m, rows) + rng.normal(0, 0.01, (size, size))
    return (depth * 1000).astype(np.uint16)


def render_thermal(s: Scene, size: int = 64) -> np.ndarray:
    """(size, size) uint8 thermal image: -10 C -> 0, 70 C -> 255; the shape at its colour's
    temperature, the background at the ambient one."""
    rng = s.rng(4)
    mask = (
        np.asarray(
            _mask(s.concept.shape, size, s.x * size, s.y * size, s.size * size), dtype=np.float32
        )
        / 255
    )
    temp = (
        s.ambient_c
        + (TEMPERATURE_C[s.concept.colour] - s.ambient_c) * mask
        + rng.normal(0, 0.8, (size, size))
    )
    return np.clip((temp + 10) / 80 * 255, 0, 255).astype(np.uint8)


def render_imu(s: Scene, steps: int = 100) -> np.ndarray:
    """(6, steps) float32 at 100 Hz: accelerometer xyz (m/s^2, gravity on z) then gyroscope xyz
    (rad/s) of a camera panning (left/right: yaw about z) or tilting (up/down: pitch about x)."""
    rng = s.rng(5)
    dx, dy = DIRECTION[s.concept.motion]
    t = np.arange(steps) / 100
    imu = np.zeros((6, steps))
    imu[2] = 9.81
    pulse = np.exp(-(((t - 0.1) / 0.04) ** 2)) - np.exp(-(((t - 0.9) / 0.04) ** 2))
    rate = rng.uniform(0.4, 0.8)
    imu[0] += 2.0 * dx * pulse
    imu[1] += 2.0 * dy * pulse
    imu[5] += -dx * rate  # yaw: panning right turns clockwise seen from above
    imu[3] += -dy * rate  # pitch: tilting up
    imu[3:] += rng.normal(0, 0.02, (3, 1))  # gyro bias
    imu += rng.normal(0, 0.05, imu.shape)
    return imu.astype(np.float32)


def scenes(n: int, seed: int = 0) -> Iterator[Scene]:
    return (scene(i, seed) for i in range(n))


def write_world(
    out: str | Path,
    n: int,
    *,
    seed: int = 0,
    size: int = 64,
    sample_rate: int = 16000,
    modalities: tuple[str, ...] = MODALITIES,
) -> Path:
    """Write `n` scenes as files under `out` and return the path of `out/manifest.csv`.

    Files: `image/NNNNNN.png`, `video/NNNNNN.mp4` (H.264 + AAC track of the sound),
    `audio/NNNNNN.wav`, `depth/NNNNNN.png` (16-bit), `thermal/NNNNNN.png`, `imu/NNNNNN.npy`; the
    caption is stored in the manifest's `text` column.
    """
    import soundfile

    out = Path(out)
    for m in modalities:
        if m != "text":
            (out / m).mkdir(parents=True, exist_ok=True)
    fields = ["id", "label", "shape", "colour", "motion", *modalities]
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for s in scenes(n, seed):
            key = f"{s.index:06d}"
            c = s.concept
            row = {
                "id": key,
                "label": c.label,
                "shape": c.shape,
                "colour": c.colour,
                "motion": c.motion,
            }
            for m in modalities:
                if m == "text":
                    row["text"] = caption(s)
                    continue
                rel = f"{m}/{key}.{_EXT[m]}"
                path = out / rel
                if m == "image":
                    Image.fromarray(render_image(s, size)).save(path)
                elif m == "video":
                    path.write_bytes(
                        encode_video(
                            render_video(s, size), render_sound(s, sample_rate, 1.0), sample_rate
                        )
                    )
                elif m == "audio":
                    soundfile.write(
                        path, render_sound(s, sample_rate), sample_rate, subtype="PCM_16"
                    )
                elif m == "depth":
                    Image.fromarray(render_depth(s, size)).save(path)
                elif m == "thermal":
                    Image.fromarray(render_thermal(s, size)).save(path)
                elif m == "imu":
                    np.save(path, render_imu(s))
                row[m] = rel
            writer.writerow(row)
    return manifest


_EXT = {
    "image": "png",
    "video": "mp4",
    "audio": "wav",
    "depth": "png",
    "thermal": "png",
    "imu": "npy",
}


def descriptions(concept: Concept) -> list[str]:
    """Several views of one concept's description (as LanguageBind's multi-view text): every
    caption template, then the bare label (the "metadata" view)."""
    c = concept
    views = [t.format(shape=c.shape, colour=c.colour, motion=c.motion) for t in TEMPLATES]
    return [*views, c.label]


def write_views_manifest(manifest: str | Path) -> Path:
    """Next to a `write_world` manifest, `manifest_views.jsonl`: the same rows with the text
    column replaced by all `descriptions` of the row's concept (one is sampled per training step).
    """
    import json

    manifest = Path(manifest)
    out = manifest.with_name("manifest_views.jsonl")
    with manifest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            row["text"] = descriptions(Concept(row["shape"], row["colour"], row["motion"]))
            f.write(json.dumps(row) + "\n")
    return out


def encode_video(frames: np.ndarray, sound: np.ndarray, sample_rate: int, fps: int = 8) -> bytes:
    """An MP4 (H.264 video, AAC audio) of (T, H, W, 3) uint8 frames and a mono sound."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode())
        samples = sound.astype(np.float32)[None, :]
        chunk = 1024
        for start in range(0, samples.shape[1], chunk):
            part = np.ascontiguousarray(samples[:, start : start + chunk])
            af = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
            af.sample_rate = sample_rate
            af.pts = start
            container.mux(audio.encode(af))
        container.mux(audio.encode())
    return buffer.getvalue()
