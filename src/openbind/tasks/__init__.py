"""Tasks on a space: zero-shot classification, retrieval, query composition, similarity.

>>> import openbind as ob
>>> space = ob.load("starter")
>>> ob.tasks.zero_shot(space, ["chelsea.png"], ["dog", "cat"], modality="image").labels
['cat']
"""

from openbind.tasks.composition import compose
from openbind.tasks.retrieval import RetrievalResult, retrieve
from openbind.tasks.similarity import SimilarityResult, similarity
from openbind.tasks.templates import datasets, templates
from openbind.tasks.text_cache import TextCache, text_cache
from openbind.tasks.zero_shot import ZeroShotResult, class_embeddings, zero_shot

__all__ = [
    "RetrievalResult",
    "SimilarityResult",
    "TextCache",
    "ZeroShotResult",
    "class_embeddings",
    "compose",
    "datasets",
    "retrieve",
    "similarity",
    "templates",
    "text_cache",
    "zero_shot",
]
