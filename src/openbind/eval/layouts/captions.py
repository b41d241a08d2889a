"""Caption layouts for text-video and text-image retrieval: MSR-VTT, COCO, Flickr30k.

* MSR-VTT: `MSRVTT_JSFUSION_test.csv` (the 1k-A split: video_id, sentence) if present, else
  `MSRVTT_data.json` (`videos` with `video_id` and `split`, `sentences` with `video_id` and
  `caption`; the "test" split by default); videos `<video_id>.mp4` anywhere below the root.
* COCO: `annotations/captions_<split>.json` (COCO format: `images` with `id`, `file_name`;
  `annotations` with `image_id`, `caption`; default: the first `captions_val*.json`), or a
  Karpathy split file `dataset_coco.json` (its "test" split); images anywhere below the root.
* Flickr30k: the Karpathy split file `dataset_flickr30k.json` (`images` with `filename`,
  `split`, `sentences[].raw`; the "test" split, 1,000 images x 5 captions).
"""

from __future__ import annotations

from pathlib import Path

from openbind.errors import BadInput
from openbind.eval.data import Dataset
from openbind.eval.layouts.audio import _caption_pairs
from openbind.eval.layouts.common import (
    IMAGE_EXTS,
    VIDEO_EXTS,
    field,
    first_existing,
    index_files,
    read_csv,
    read_json,
)
from openbind.eval.layouts.options import LayoutOptions
from openbind.types import Modality


def msrvtt(root: Path, opts: LayoutOptions) -> Dataset:
    """MSR-VTT text-video retrieval (1k-A when its CSV is there)."""
    videos = index_files(root, VIDEO_EXTS)
    jsfusion = root / "MSRVTT_JSFUSION_test.csv"
    if jsfusion.is_file() and opts.split in (None, "1k-A", "test"):
        rows = read_csv(jsfusion, ("video_id", "sentence"))
        groups = [((r["video_id"],), r["sentence"], videos.get(r["video_id"])) for r in rows]
        return _caption_pairs("msrvtt", root, jsfusion, groups, Modality.VIDEO, "video_id")
    path = first_existing(root, ("MSRVTT_data.json", "annotation/MSRVTT_data.json"), "MSR-VTT JSON")
    data = read_json(path)
    split = opts.split or "test"
    listed = field(data, "videos", path, "the file")
    wanted = {
        field(v, "video_id", path, f"videos[{i}]")
        for i, v in enumerate(listed)
        if v.get("split", split) == split
    }
    if not wanted:
        raise BadInput(f"malformed: no video of split {split!r}", source=path)
    groups = []
    for i, s in enumerate(field(data, "sentences", path, "the file")):
        vid = field(s, "video_id", path, f"sentences[{i}]")
        if vid in wanted:
            groups.append(((vid,), field(s, "caption", path, f"sentences[{i}]"), videos.get(vid)))
    return _caption_pairs("msrvtt", root, path, groups, Modality.VIDEO, "video_id")


def coco(root: Path, opts: LayoutOptions) -> Dataset:
    """COCO captions (5 per image) for text-image retrieval."""
    karpathy = root / "dataset_coco.json"
    if karpathy.is_file():
        return _karpathy("coco", root, karpathy, opts.split or "test")
    if opts.split:
        path = first_existing(root, (f"annotations/captions_{opts.split}.json",), "COCO captions")
    else:
        found = sorted((root / "annotations").glob("captions_val*.json"))
        if not found:
            raise BadInput(
                "missing COCO captions: expected annotations/captions_val2017.json (or "
                "captions_val2014.json, or dataset_coco.json)",
                source=root / "annotations" / "captions_val2017.json",
            )
        path = found[0]
    data = read_json(path)
    images = index_files(root, IMAGE_EXTS)
    names = {}
    for i, im in enumerate(field(data, "images", path, "the file")):
        names[field(im, "id", path, f"images[{i}]")] = field(im, "file_name", path, f"images[{i}]")
    groups = []
    for i, a in enumerate(field(data, "annotations", path, "the file")):
        image_id = field(a, "image_id", path, f"annotations[{i}]")
        if image_id not in names:
            raise BadInput(
                f"malformed: annotations[{i}] names unknown image {image_id}", source=path
            )
        name = names[image_id]
        groups.append(
            ((name,), field(a, "caption", path, f"annotations[{i}]").strip(), images.get(name))
        )
    return _caption_pairs("coco", root, path, groups, Modality.IMAGE, "file_name")


def flickr30k(root: Path, opts: LayoutOptions) -> Dataset:
    """Flickr30k captions (Karpathy test split) for text-image retrieval."""
    path = first_existing(root, ("dataset_flickr30k.json",), "Flickr30k Karpathy split JSON")
    return _karpathy("flickr30k", root, path, opts.split or "test")


def _karpathy(name: str, root: Path, path: Path, split: str) -> Dataset:
    data = read_json(path)
    images = index_files(root, IMAGE_EXTS)
    groups = []
    for i, im in enumerate(field(data, "images", path, "the file")):
        if field(im, "split", path, f"images[{i}]") != split:
            continue
        filename = field(im, "filename", path, f"images[{i}]")
        for j, s in enumerate(field(im, "sentences", path, f"images[{i}]")):
            caption = field(s, "raw", path, f"images[{i}].sentences[{j}]")
            groups.append(((filename,), caption, images.get(filename)))
    if not groups:
        raise BadInput(f"malformed: no image of split {split!r}", source=path)
    return _caption_pairs(name, root, path, groups, Modality.IMAGE, "filename")
