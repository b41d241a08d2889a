"""Quality of the starter space on scikit-image's real photographs (no download).

Zero-shot: each photo against 25 labels (its own 13 plus 12 distractors), chance 4% top-1.
Retrieval: for a plain description of each photo, the 13 photos ranked by cosine.
Run `python -m tests.zoo.test_starter_quality` for the per-photo table of docs/starter.md.
"""

from __future__ import annotations

import torch

from openbind.tasks import retrieve, zero_shot
from tests.space.starter import photos, starter

LABELS = {
    "astronaut": "astronaut",
    "camera": "photographer",
    "chelsea": "cat",
    "coffee": "coffee",
    "rocket": "rocket",
    "hubble_deep_field": "galaxy",
    "moon": "moon",
    "coins": "coins",
    "grass": "grass",
    "gravel": "gravel",
    "brick": "brick wall",
    "retina": "retina",
    "motorcycle": "motorcycle",
}
DISTRACTORS = ["dog", "car", "tree", "pizza", "airplane", "bird", "flower", "computer", "horse"]
DISTRACTORS += ["beach", "mountain", "book"]
DESCRIPTIONS = {
    "astronaut": "an astronaut in a space suit with the American flag",
    "camera": "a black and white photo of a man with a camera on a tripod",
    "chelsea": "a tabby cat looking at the camera",
    "coffee": "a cup of coffee on a saucer",
    "rocket": "a rocket on the launch pad",
    "hubble_deep_field": "galaxies and stars in deep space",
    "moon": "the surface of the moon",
    "coins": "old coins on a table",
    "grass": "green grass",
    "gravel": "a pile of gravel stones",
    "brick": "a brick wall",
    "retina": "a medical image of the retina of an eye",
    "motorcycle": "a motorcycle parked in a garage",
}
NAMES = list(LABELS)


def zero_shot_ranks() -> tuple[dict[str, int], dict[str, list[tuple[str, float]]]]:
    """Rank (0 = top-1) of each photo's own label, and its top-5 (label, probability)."""
    space = starter()
    classes = [LABELS[n] for n in NAMES] + DISTRACTORS
    result = zero_shot(space, [photos()[n] for n in NAMES], classes, "image")
    own = result.scores[torch.arange(len(NAMES)), torch.arange(len(NAMES))]
    ranks = (result.scores > own[:, None]).sum(1).tolist()
    return dict(zip(NAMES, ranks, strict=True)), dict(zip(NAMES, result.top(5), strict=True))


def retrieval_ranks() -> dict[str, int]:
    """Rank (0 = first) of each photo among the 13 for its description."""
    space = starter()
    emb = space.encode(
        {"image": [photos()[n] for n in NAMES], "text": [DESCRIPTIONS[n] for n in NAMES]}
    )
    hits = retrieve(emb["text"], emb["image"], k=len(NAMES))
    return {n: hits.indices[i].tolist().index(i) for i, n in enumerate(NAMES)}


def test_zero_shot_on_real_photos():
    ranks, top = zero_shot_ranks()
    for name in ("chelsea", "coffee", "rocket", "motorcycle", "camera", "grass", "brick"):
        assert ranks[name] == 0, (name, top[name])
    assert top["chelsea"][0][0] == "cat" and top["chelsea"][0][1] > 0.5
    top1 = sum(r == 0 for r in ranks.values())
    top5 = sum(r < 5 for r in ranks.values())
    assert top1 >= 7 and top5 >= 10, ranks  # chance: 0.5 and 2.6 of 13


def test_text_to_image_retrieval_on_real_photos():
    ranks = retrieval_ranks()
    for name in ("chelsea", "coffee", "rocket", "motorcycle", "camera", "astronaut", "brick"):
        assert ranks[name] == 0, (name, ranks)
    assert sum(r == 0 for r in ranks.values()) >= 10, ranks  # chance: 1 of 13


def main() -> None:
    zs, top = zero_shot_ranks()
    rr = retrieval_ranks()
    print("| photo | label | zero-shot rank | top-5 (probability) | retrieval rank |")
    print("|---|---|---|---|---|")
    for n in NAMES:
        five = ", ".join(f"{label} {p:.2f}" for label, p in top[n])
        print(f"| {n} | {LABELS[n]} | {zs[n] + 1} | {five} | {rr[n] + 1} |")
    k = len(NAMES)
    print(f"zero-shot top-1 {sum(r == 0 for r in zs.values())}/{k}, ", end="")
    print(f"top-5 {sum(r < 5 for r in zs.values())}/{k}; ", end="")
    print(f"retrieval R@1 {sum(r == 0 for r in rr.values())}/{k}")


if __name__ == "__main__":
    main()
