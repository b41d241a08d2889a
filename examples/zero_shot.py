"""Zero-shot classification of photos with the offline starter space.

python examples/zero_shot.py
"""

import tempfile
from pathlib import Path

from PIL import Image
from skimage import data

import openbind as ob

folder = Path(tempfile.mkdtemp())
for name in ("chelsea", "coffee", "rocket"):
    Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
files = sorted(folder.glob("*.png"))

space = ob.load("starter")
labels = ["cat", "dog", "coffee", "rocket", "car"]
result = ob.tasks.zero_shot(space, files, labels, modality="image")

for path, top in zip(files, result.top(2), strict=True):
    ranked = ", ".join(f"{label} {p:.2f}" for label, p in top)
    print(f"{path.name}: {ranked}")
print(f"scores: {result.score_kind} x {result.logit_scale:g}")
