"""Image-audio pairs from videos: a frame and the video's own audio track.

ImageBind bound audio to images with AudioSet videos, pairing frames with the sound recorded at
the same time (Girdhar et al., CVPR 2023). `video_rows` does this for any video files: each row's
image is the middle frame and its audio is the whole audio track, both decoded lazily when the
row is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openbind.data.paired import DataReport, Row
from openbind.io.audio import Waveform, load_audio
from openbind.io.video import probe_video, read_frames


@dataclass(frozen=True)
class VideoFrame:
    """The middle frame of a video, as (H, W, 3) uint8 RGB."""

    path: Path

    def load(self) -> np.ndarray:
        info = probe_video(self.path)
        return read_frames(self.path, [info.num_frames // 2])[0]


@dataclass(frozen=True)
class VideoAudio:
    """The audio track of a video, as `(samples, rate)` (channels first)."""

    path: Path

    def load(self) -> tuple[np.ndarray, int]:
        wave: Waveform = load_audio(self.path)
        return wave.samples, wave.sample_rate


def video_rows(paths: Iterable[str | Path]) -> tuple[list[Row], DataReport]:
    """Rows `{"image": VideoFrame, "audio": VideoAudio, "video": path}` of the video files.

    Missing files are skipped and counted; corrupt ones (or videos without an audio track) are
    found, counted and replaced when their row is loaded (`PairedDataset`).
    """
    report = DataReport()
    rows: list[Row] = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            report.missing += 1
            report.note(f"no such video {path}")
            continue
        rows.append({"image": VideoFrame(path), "audio": VideoAudio(path), "video": path})
    report.rows = len(rows)
    return rows, report
