"""Compose a query from an image and a text (weighted embedding arithmetic, as in ImageBind).

python examples/composition.py
"""

from skimage import data

import openbind as ob
from openbind.space.convert import take

names = ["chelsea", "coffee", "rocket", "astronaut", "grass", "motorcycle"]
photos = [getattr(data, name)() for name in names[:-1]] + [data.stereo_motorcycle()[0]]

space = ob.load("starter")
images = space.encode("image", photos)
cat = take(images, names.index("chelsea"))
text = space.encode("text", ["a motorcycle"])

for weight in (0.0, 1.0, 2.0):
    query = ob.tasks.compose([cat, text], weights=[1.0, weight])
    ranked = ob.tasks.retrieve(query, images, k=3)
    print(f"cat photo + {weight:g} x 'a motorcycle' -> {[names[i] for i in ranked.indices[0]]}")
