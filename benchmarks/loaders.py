"""Loader speed: openbind's transforms vs a plain reference-style pipeline vs the bare decode.

Per file and modality, all in one run, the median of at least `--repeats` calls (more for fast
loaders) after one warm-up; (a), (b) and (c) run in interleaved rounds, so load changes on the
shared machine affect them alike. Wall-clock and process CPU time are both reported: the video
loader decodes on a second thread when a file has enough keyframe groups (wall time), and the
targets are judged on each:

* (a) openbind: `ImageTransform`, `VideoTransform`, `AudioTransform(AudioConfig(parity=True))`
  (the reference's first channel and clip-mean leak, so that the output is the reference's;
  the default fixes both and differs by up to 2e-5 on a mono file), `TextTransform`; rows
  "image_fast" use `ImageConfig(fast=True)` (not reference parity: reduced-size JPEG decoding
  and torch's uint8 resize).
* (b) plain: what the ImageBind reference loaders do, written with the same libraries openbind
  has (no torchvision / torchaudio / decord here): decode everything, then transform. Image:
  Pillow convert + bicubic resize + centre crop + normalise. Video: decode every frame with PyAV,
  then per clip the clip's window as float32 (C, T, H, W), 2 frames, bilinear short-side scale,
  normalise, 3 crops. Audio: read every channel, torchaudio-style resample of rates other than
  16 kHz (filter rebuilt per call), per clip an in-place mean and a one-clip Kaldi fbank (window
  and mel filters rebuilt per call, as `torchaudio.compliance.kaldi.fbank` does); on the golden
  files its output is the reference's bit for bit (`tests/golden/preproc/audio.npz`). Text: a
  fresh tokenizer per call.
* (c) bare decode: Pillow load + RGB, soundfile read, PyAV decode of every frame to RGB.

Targets: video >= 5x, text >= 5x, audio >= 3x faster than (b); image within 1.2x of (c); all
at equal output: each row records the largest difference between (a) and (b) and the tolerance
(`TOLERANCES`, the parity tolerances of the tests), and a row outside it misses its target.
Inputs: the golden media in tests/golden/media, 8 captions from tests/golden/preproc, and files
generated into a temporary folder (1920x1080 and 4032x3024 JPEG photos, a 10 s 44.1 kHz stereo
WAV, 3 s and 30 s 640x480 30 fps MP4s).

Timing uses one torch thread by default (`--threads`): loaders run in worker threads next to the
model, and on a busy machine multi-threaded small ops mostly measure waiting.

Usage:
    .venv/bin/python benchmarks/loaders.py [--repeats 7] [--threads 1]

Prints a table and writes benchmarks/results/loaders.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
import torch
from PIL import Image

from openbind.preprocess.audio import AudioConfig, AudioTransform, clip_times, sample_slices
from openbind.preprocess.fbank import mel_filters
from openbind.preprocess.image import ImageConfig, ImageTransform
from openbind.preprocess.resample import LOWPASS_FILTER_WIDTH, ROLLOFF
from openbind.preprocess.text import TextTransform
from openbind.preprocess.tokenizer import ClipTokenizer, find_vocab
from openbind.preprocess.video import VideoTransform

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / "tests" / "golden" / "media"
TEXTS = ROOT / "tests" / "golden" / "preproc" / "text_tokens.json"
RESULTS = Path(__file__).parent / "results" / "loaders.json"
TARGETS = {"video": 5.0, "text": 5.0, "audio": 3.0}  # minimum speed-up of (a) over (b)
IMAGE_TARGET = 1.2  # maximum (a) / (c)
TOLERANCES = {"image": 1e-6, "video": 1e-4, "audio": 1e-6, "text": 0.0}
"""Largest |(a) - (b)| of an output at "equal output"; image_fast has none (not parity)."""
PHOTOS = ((1920, 1080), (4032, 3024))  # generated JPEGs: a video still and a 12 MP phone photo
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# -- inputs ----------------------------------------------------------------------------------


def make_wav(path: Path) -> Path:
    """10 s, 44.1 kHz, stereo 16-bit: two tones plus noise."""
    rate = 44100
    t = np.arange(10 * rate) / rate
    noise = np.random.default_rng(0).normal(0, 0.05, (t.size, 2))
    x = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 997 * t)], 1) + noise
    sf.write(path, x, rate, subtype="PCM_16")
    return path


def make_jpeg(path: Path, width: int, height: int) -> Path:
    """A photo-like JPEG (smooth gradients plus noise, quality 90), as phones and cameras save."""
    yy, xx = np.mgrid[0:height, 0:width]
    planes = [np.sin(yy / 37.0 + c) * 80 + np.cos(xx / 53.0 - c) * 40 + 128 for c in range(3)]
    noise = np.random.default_rng(width).normal(0, 6, (height, width, 3))
    Image.fromarray(np.clip(np.stack(planes, -1) + noise, 0, 255).astype(np.uint8)).save(
        path, quality=90
    )
    return path


def make_mp4(path: Path, seconds: int) -> Path:
    """640x480, 30 fps H.264 (x264 defaults, preset veryfast), a moving pattern."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30, options={"preset": "veryfast"})
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        yy, xx = np.mgrid[0:480, 0:640]
        for i in range(30 * seconds):
            img = np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, (xx + yy + i) % 256], -1)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


# -- (b) plain reference-style pipelines -------------------------------------------------------


def plain_image(path: Path) -> torch.Tensor:
    im = Image.open(path).convert("RGB")
    w, h = im.size
    short, long_ = (w, h) if w <= h else (h, w)
    size = (224, int(224 * long_ / short)) if w <= h else (int(224 * long_ / short), 224)
    im = im.resize(size, Image.BICUBIC)
    left, top = round((im.size[0] - 224) / 2), round((im.size[1] - 224) / 2)
    im = im.crop((left, top, left + 224, top + 224))
    x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255
    return (x - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]


def plain_video(path: Path) -> torch.Tensor:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        fps = float(stream.average_rate)
    n = len(frames)
    duration = n / fps
    step = Fraction(max(duration - 2, 0)) / 4
    out = []
    for k in range(5):
        s, e = step * k, step * k + 2
        idx = range(math.ceil(fps * s), min(math.ceil(fps * e), n))
        clip = torch.from_numpy(np.stack([frames[i] for i in idx])).permute(3, 0, 1, 2).float()
        clip = clip[:, torch.linspace(0, clip.shape[1] - 1, 2).long()] / 255  # (3, 2, H, W)
        h, w = clip.shape[-2:]
        size = (224, int(w / h * 224)) if h <= w else (int(h / w * 224), 224)
        clip = torch.nn.functional.interpolate(
            clip, size=size, mode="bilinear", align_corners=False
        )
        clip = (clip - torch.tensor(CLIP_MEAN)[:, None, None, None]) / torch.tensor(CLIP_STD)[
            :, None, None, None
        ]
        h, w = clip.shape[-2:]
        for off in (0, math.ceil((max(h, w) - 224) / 2), max(h, w) - 224):
            y0, x0 = (off, 0) if h > w else (0, off)
            out.append(clip[..., y0 : y0 + 224, x0 : x0 + 224])
    return torch.stack(out)


def plain_resample(x: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """torchaudio.functional.resample as written there: the filter is rebuilt on every call."""
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / base)
    idx = torch.arange(-width, width + orig, dtype=torch.float32)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new + idx
    t = (t * base).clamp(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_FILTER_WIDTH / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0), t.sin() / t)
    kernel *= window * (base / orig)  # torchaudio's order of the products
    n = x.shape[-1]
    y = torch.nn.functional.conv1d(
        torch.nn.functional.pad(x[:, None], (width, width + orig)), kernel, stride=orig
    )
    return y.transpose(1, 2).reshape(x.shape[0], -1)[:, : math.ceil(new * n / orig)]


def plain_fbank(clip: torch.Tensor) -> torch.Tensor:
    """One clip, as torchaudio.compliance.kaldi.fbank: window and mel filters built per call."""
    eps = torch.tensor(torch.finfo(torch.float32).eps)
    frames = clip[0].unfold(0, 400, 160)
    frames = frames - frames.mean(dim=1, keepdim=True)
    # raw_energy=True: torchaudio computes the log energy even when use_energy=False
    log_energy = torch.max(frames.pow(2).sum(1), eps).log()
    torch.max(log_energy, torch.tensor(math.log(1.0)))
    prev = torch.nn.functional.pad(frames.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)
    frames = frames - 0.97 * prev[:, :-1]
    frames = frames * torch.hann_window(400, periodic=False).unsqueeze(0)
    frames = torch.nn.functional.pad(frames, (0, 112))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    filters = mel_filters.__wrapped__(128, 512, 16000.0)  # torchaudio builds them on every call
    energies = torch.mm(power, filters.T)
    return torch.max(energies, eps).log()


def plain_audio(path: Path) -> torch.Tensor:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    wave = torch.from_numpy(data.T.copy())
    if rate != 16000:  # the reference resamples only other rates
        wave = plain_resample(wave, rate, 16000)
    transform_config = AudioTransform().config
    times = clip_times(wave.shape[1] / 16000, transform_config)
    out = []
    for a, b in sample_slices(times, 16000):
        clip = wave[:, a:b]
        clip -= clip.mean()
        fb = plain_fbank(clip).transpose(0, 1)
        fb = torch.nn.functional.pad(fb, (0, 204 - fb.shape[1]))[:, :204].unsqueeze(0)
        out.append((fb + 4.268) / 9.138)
    return torch.stack(out)


def plain_text(texts: list[str]) -> torch.Tensor:
    tok = ClipTokenizer(find_vocab())  # the reference builds a tokenizer per call
    rows = []
    for t in texts:
        ids = [*[tok.sot_id, *tok.encode(t)][:76], tok.eot_id]
        rows.append(ids + [0] * (77 - len(ids)))
    return torch.tensor(rows)


# -- (c) bare decodes ------------------------------------------------------------------------------


def bare_image(path: Path) -> Any:
    return Image.open(path).convert("RGB")


def bare_audio(path: Path) -> Any:
    return sf.read(path, dtype="float32", always_2d=True)


def bare_video(path: Path) -> Any:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# -- timing ------------------------------------------------------------------------------------


def interleaved_ms(
    fns: dict[str, Callable[[], Any]], repeats: int, budget_s: float = 0.5
) -> dict[str, tuple[float, float]]:
    """Median wall-clock and process-CPU milliseconds of each function, after one warm-up each.

    The functions run in rounds, each once per round, so a change of load on a shared machine
    affects all of them alike. At least `repeats` rounds, and more for fast functions (up to 100
    rounds while the rounds take less than `budget_s` per function), which steadies the medians
    of millisecond-scale loaders.
    """
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (rounds < 100 and time.perf_counter() - start < budget_s * len(fns)):
        for key, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
        rounds += 1
    return {k: (statistics.median(wall[k]) * 1e3, statistics.median(cpu[k]) * 1e3) for k in fns}


def measure(
    modality: str,
    path: Path,
    transform: Callable[[Any], Any],
    plain: Callable[[Path], Any],
    bare: Callable[[Path], Any],
    repeats: int,
) -> dict[str, Any]:
    """One row: (a), (b) and (c) timed on the same file, in interleaved rounds."""
    fns = {"openbind": transform, "plain": plain, "bare_decode": bare}
    diff = max_difference(transform(path), plain(path))
    times = interleaved_ms({k: (lambda fn=fn: fn(path)) for k, fn in fns.items()}, repeats)
    row: dict[str, Any] = {"modality": modality, "input": path.name, "max_difference": diff}
    row["tolerance"] = TOLERANCES.get(modality)
    for key, (wall, cpu) in times.items():
        row[f"{key}_ms"], row[f"{key}_cpu_ms"] = wall, cpu
    return row


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference of two outputs (same number of values, any batch shape)."""
    if a.numel() != b.numel():
        return math.inf
    return float((a.reshape(b.shape).double() - b.double()).abs().max())


def transforms() -> dict[str, Callable[[Any], Any]]:
    """openbind's transforms with the reference's output, plus the fast image mode."""
    return {
        "image": ImageTransform(),
        "image_fast": ImageTransform(ImageConfig(fast=True)),
        "video": VideoTransform(),
        "audio": AudioTransform(AudioConfig(parity=True)),
        "text": TextTransform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (loaders run one per worker thread)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours = transforms()
    texts = json.loads(TEXTS.read_text())["imagebind"]["texts"]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases: list[tuple[str, Path, Callable, Callable | None]] = []
        photos = [make_jpeg(folder / f"photo_{w}x{h}.jpg", w, h) for w, h in PHOTOS]
        for p in [*sorted(MEDIA.glob("*.png")), *sorted(MEDIA.glob("*.jpg")), *photos]:
            cases.append(("image", p, plain_image, bare_image))
            cases.append(("image_fast", p, plain_image, bare_image))
        for p in [*sorted(MEDIA.glob("*.wav")), make_wav(folder / "tones_10s_44k1_stereo.wav")]:
            cases.append(("audio", p, plain_audio, bare_audio))
        videos = [make_mp4(folder / "pattern_640x480_30fps_3s.mp4", 3)]
        videos.append(make_mp4(folder / "pattern_640x480_30fps_30s.mp4", 30))
        for p in [*sorted(MEDIA.glob("*.mp4")), *videos]:
            cases.append(("video", p, plain_video, bare_video))
        for modality, path, plain, bare in cases:
            repeats = max(3, args.repeats // 2) if "30s" in path.name else args.repeats
            rows.append(measure(modality, path, ours[modality], plain, bare, repeats))
            print(f"  measured {modality} {path.name}", flush=True)
        text = ours["text"]
        times = interleaved_ms(
            {"a": lambda: [text(t) for t in texts], "b": lambda: plain_text(texts)}, args.repeats
        )
        (a_wall, a_cpu), (b_wall, b_cpu) = times["a"], times["b"]
        tokens = torch.cat([text(t) for t in texts])
        rows.append(
            {
                "modality": "text",
                "input": f"{len(texts)} captions",
                "max_difference": max_difference(tokens, plain_text(texts)),
                "tolerance": TOLERANCES["text"],
                "openbind_ms": a_wall,
                "openbind_cpu_ms": a_cpu,
                "plain_ms": b_wall,
                "plain_cpu_ms": b_cpu,
                "bare_decode_ms": None,
                "bare_decode_cpu_ms": None,
            }
        )
    for row in rows:
        for basis in ("", "_cpu"):
            a, b, c = (row[f"{k}{basis}_ms"] for k in ("openbind", "plain", "bare_decode"))
            row[f"speedup_vs_plain{basis}"] = b / a
            row[f"vs_bare_decode{basis}"] = a / c if a and c else None
    summary = summarise(rows)
    report = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
        },
        "repeats": args.repeats,
        "rows": rows,
        "summary": summary,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print_table(rows, summary)


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per modality and time basis (wall, cpu): the worst file's ratio against its target."""
    out: dict[str, dict] = {}
    for modality in ("image", "image_fast", "video", "audio", "text"):
        mine = [r for r in rows if r["modality"] == modality]
        if not mine:
            out[modality] = {"measured": False}
            continue
        equal = all(r["tolerance"] is None or r["max_difference"] <= r["tolerance"] for r in mine)
        entry: dict[str, Any] = {"equal_output": equal}
        for basis, label in (("", "wall"), ("_cpu", "cpu")):
            if modality.startswith("image"):
                worst = max(r[f"vs_bare_decode{basis}"] for r in mine)
                met = worst <= IMAGE_TARGET
                entry[label] = {"worst_vs_bare_decode": worst, "meets_target": met and equal}
            else:
                worst = min(r[f"speedup_vs_plain{basis}"] for r in mine)
                met = worst >= TARGETS[modality]
                entry[label] = {"worst_speedup": worst, "meets_target": met and equal}
        entry["target"] = (
            f"<= {IMAGE_TARGET}x bare decode"
            if modality.startswith("image")
            else (f">= {TARGETS[modality]}x plain")
        )
        out[modality] = entry
    return out


def print_table(rows: list[dict], summary: dict[str, dict]) -> None:
    def ms(x: float | None) -> str:
        return f"{'-':>8}" if x is None else f"{x:8.2f}"

    def ratio(x: float | None) -> str:
        return f"{'-':>7}" if x is None else f"{x:6.2f}x"

    head = f"{'modality':10} {'input':31}"
    print(
        f"{head} {'wall ms: openbind':>17} {'plain':>8} {'bare':>8} {'b/a':>7} {'a/c':>7}   "
        f"{'cpu ms: openbind':>16} {'plain':>8} {'bare':>8} {'b/a':>7} {'a/c':>7}   max |a-b|"
    )
    for r in rows:
        line = f"{r['modality']:10} {r['input'][:31]:31}"
        for basis in ("", "_cpu"):
            line += (
                f" {ms(r[f'openbind{basis}_ms']):>17}"
                if not basis
                else f"   {ms(r['openbind_cpu_ms']):>16}"
            )
            line += f" {ms(r[f'plain{basis}_ms'])} {ms(r[f'bare_decode{basis}_ms'])}"
            line += f" {ratio(r[f'speedup_vs_plain{basis}'])} {ratio(r[f'vs_bare_decode{basis}'])}"
        tolerance = "" if r["tolerance"] is None else f" (<= {r['tolerance']:.0e})"
        print(f"{line}   {r['max_difference']:.1e}{tolerance}")
    print("median ms per file; b/a = speed-up over the plain pipeline; a/c = time / bare decode;")
    print("max |a-b| = largest output difference between openbind and the plain pipeline")
    for modality, s in summary.items():
        print(f"  {modality}: {s}")


if __name__ == "__main__":
    main()
