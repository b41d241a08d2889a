"""Zero-shot classification: toy space for the mechanics, the starter for real labels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from openbind.errors import BadInput, MissingModality, SpaceMismatch
from openbind.tasks import class_embeddings, zero_shot
from tests.space.starter import photos, starter
from tests.space.toy import make_space


@pytest.fixture(scope="module")
def toy():
    return make_space()


def test_class_embeddings_average_the_prompt_vectors(toy):
    got = class_embeddings(toy, ["cat", "dog"], "image", templates=["{}", "a {}"])
    prompts = toy.encode("text", ["cat", "a cat", "dog", "a dog"]).vectors.view(2, 2, -1)
    assert torch.allclose(got.vectors, F.normalize(prompts.mean(1), dim=-1), atol=1e-6)


def test_scores_are_cosines_or_logits_with_the_space_scale(toy):
    images = toy.encode("image", [0.5, 2.0])
    classes = class_embeddings(toy, ["cat", "dog", "owl"], "image", templates=["{}"])
    cosine = zero_shot(
        toy, images, ["cat", "dog", "owl"], "image", templates=["{}"], score="cosine"
    )
    logit = zero_shot(toy, [0.5, 2.0], ["cat", "dog", "owl"], "image", templates=["{}"])
    expected = images.vectors @ classes.vectors.T
    assert cosine.score_kind == "cosine" and cosine.logit_scale == 1.0
    assert torch.allclose(cosine.scores, expected, atol=1e-6)
    assert logit.score_kind == "logit" and logit.logit_scale == 10.0
    assert torch.allclose(logit.scores, 10.0 * expected, atol=1e-5)
    assert torch.allclose(logit.probabilities, (10.0 * expected).softmax(1), atol=1e-6)
    assert logit.labels == [["cat", "dog", "owl"][i] for i in expected.argmax(1).tolist()]
    assert [label for label, _ in logit.top(3)[0]] == [
        ["cat", "dog", "owl"][i] for i in expected[0].argsort(descending=True).tolist()
    ]


def test_precomputed_classes_need_their_names(toy):
    classes = class_embeddings(toy, ["cat", "dog"], "image", templates=["{}"])
    result = zero_shot(toy, [1.0], classes, "image", class_names=["cat", "dog"])
    assert result.classes == ["cat", "dog"]
    with pytest.raises(BadInput, match="2 class embeddings need as many class_names, got 0"):
        zero_shot(toy, [1.0], classes, "image")


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([], "no class labels given"),
        ("cat", "must be a list of labels"),
        (["cat", " "], "must be non-empty strings"),
        (["cat", "cat"], r"duplicate class labels: \['cat'\]"),
    ],
)
def test_bad_class_lists_are_bad_input(toy, classes, message):
    with pytest.raises(BadInput, match=message):
        zero_shot(toy, [1.0], classes, "image")


def test_empty_inputs_bad_templates_and_score_kinds(toy):
    with pytest.raises(BadInput, match="no image inputs to classify"):
        zero_shot(toy, [], ["cat"], "image")
    with pytest.raises(BadInput, match="each contain"):
        zero_shot(toy, [1.0], ["cat"], "image", templates=["no slot"])
    with pytest.raises(BadInput, match="no 'nope' templates for image; stored: default"):
        zero_shot(toy, [1.0], ["cat"], "image", templates="nope")
    with pytest.raises(BadInput, match="score must be 'cosine' or 'logit'"):
        zero_shot(toy, [1.0], ["cat"], "image", score="prob")  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="k must be >= 1"):
        zero_shot(toy, [1.0], ["cat"], "image").top(0)


def test_missing_tower_and_other_space(toy):
    with pytest.raises(MissingModality, match="no audio tower"):
        zero_shot(toy, ["x.wav"], ["cat"], "audio")
    other = make_space("toy_other.v1")
    with pytest.raises(SpaceMismatch, match=r"toy_other\.v1"):
        zero_shot(toy, other.encode("image", [1.0]), ["cat"], "image")


def test_starter_labels_real_photos():
    space = starter()
    images = [photos()[n] for n in ("chelsea", "coffee", "rocket")]
    result = zero_shot(space, images, ["dog", "cat", "coffee", "rocket", "car"], "image")
    assert result.labels == ["cat", "coffee", "rocket"]
    assert result.probabilities[0, 1] > 0.9
    ensemble = zero_shot(space, images, ["dog", "cat", "coffee", "rocket"], templates="imagenet")
    assert ensemble.labels == ["cat", "coffee", "rocket"]
