"""Text-to-image and image-to-image search with the offline starter space.

python examples/retrieval.py
"""

from skimage import data

import openbind as ob

names = ["astronaut", "chelsea", "coffee", "rocket", "grass"]
photos = [getattr(data, name)() for name in names]
photos.append(data.stereo_motorcycle()[0])
names.append("motorcycle")

space = ob.load("starter")
queries = ["a cup of coffee", "a cat", "a rocket launch", "a motorcycle"]
emb = space.encode({"image": photos, "text": queries})

hits = ob.tasks.retrieve(emb["text"], emb["image"], k=2)
for query, row in zip(queries, range(len(queries)), strict=True):
    found = ", ".join(f"{names[i]} {score:.2f}" for i, score in hits.hits(row))
    print(f"{query!r} -> {found}")

same = ob.tasks.retrieve(emb["image"], emb["image"], k=2)
print(f"nearest other photo to chelsea: {names[same.indices[1, 1]]}")
