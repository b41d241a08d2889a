"""Metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from openbind.errors import BadInput
from openbind.eval import metrics as M

SCORES = np.array(
    [
        [0.9, 0.1, 0.0],  # label 0: rank 1
        [0.2, 0.5, 0.3],  # label 2: rank 2
        [0.1, 0.2, 0.7],  # label 0: rank 3
        [0.4, 0.6, 0.0],  # label 1: rank 1
    ]
)
LABELS = [0, 2, 0, 1]


def test_top_k_accuracy_by_hand() -> None:
    assert M.top_k_accuracy(SCORES, LABELS, 1) == pytest.approx(2 / 4)
    assert M.top_k_accuracy(SCORES, LABELS, 2) == pytest.approx(3 / 4)
    assert M.top_k_accuracy(SCORES, LABELS, 3) == 1.0


def test_ties_count_against_the_model() -> None:
    flat = np.zeros((4, 3))
    assert M.top_k_accuracy(flat, LABELS, 1) == 0.0
    assert M.top_k_accuracy(flat, LABELS, 3) == 1.0
    # a tie between the true class and one wrong class: top-1 miss, top-2 hit
    assert M.top_k_accuracy(np.array([[0.5, 0.5, 0.1]]), [1], 1) == 0.0
    assert M.top_k_accuracy(np.array([[0.5, 0.5, 0.1]]), [1], 2) == 1.0


def test_per_class_accuracy_by_hand() -> None:
    acc = M.per_class_accuracy(SCORES, LABELS)
    # class 0: rows 0 (hit) and 2 (miss); class 1: row 3 (hit); class 2: row 1 (miss)
    np.testing.assert_allclose(acc, [0.5, 1.0, 0.0])
    assert M.mean_per_class_accuracy(SCORES, LABELS) == pytest.approx(0.5)
    # a class without rows is NaN, and left out of the mean
    acc4 = M.per_class_accuracy(np.c_[SCORES, np.zeros(4)], LABELS)
    assert np.isnan(acc4[3])
    assert M.mean_per_class_accuracy(np.c_[SCORES, np.zeros(4)], LABELS) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("scores", "labels", "k"),
    [
        (np.zeros((2, 3)), [0, 3], 1),  # label out of range
        (np.zeros((2, 3)), [0], 1),  # wrong count
        (np.zeros((2, 3)), [0.0, 1.0], 1),  # not integers
        (np.zeros((0, 3)), [], 1),  # empty
        (np.zeros((2, 3)), [0, 1], 0),  # k < 1
    ],
)
def test_classification_bad_input(scores, labels, k) -> None:
    with pytest.raises(BadInput):
        M.top_k_accuracy(scores, np.asarray(labels), k)


# Three text queries against four audio clips; query 1 has two correct clips.
SIM = np.array(
    [
        [0.9, 0.1, 0.3, 0.2],  # relevant {0}: rank 1
        [0.8, 0.1, 0.5, 0.6],  # relevant {2, 3}: 3 is 2nd -> rank 2
        [0.7, 0.6, 0.5, 0.4],  # relevant {3}: rank 4
    ]
)
RELEVANT = [[0], [2, 3], [3]]


def test_ranks_and_recall_by_hand() -> None:
    np.testing.assert_array_equal(M.ranks(SIM, RELEVANT), [1, 2, 4])
    assert M.recall_at_k(SIM, RELEVANT, 1) == pytest.approx(1 / 3)
    assert M.recall_at_k(SIM, RELEVANT, 2) == pytest.approx(2 / 3)
    assert M.recall_at_k(SIM, RELEVANT, 4) == 1.0
    assert M.median_rank(SIM, RELEVANT) == 2.0
    assert M.mean_rank(SIM, RELEVANT) == pytest.approx(7 / 3)


def test_relevance_forms_agree() -> None:
    matrix = np.zeros((3, 4), dtype=bool)
    matrix[0, 0] = matrix[1, 2] = matrix[1, 3] = matrix[2, 3] = True
    np.testing.assert_array_equal(M.relevance(RELEVANT, (3, 4)), matrix)
    np.testing.assert_array_equal(M.ranks(SIM, matrix), [1, 2, 4])
    np.testing.assert_array_equal(M.ranks(SIM[[0, 2]], [0, 3]), [1, 4])  # one position each


def test_average_precision_by_hand() -> None:
    # query 0: hit at 1 -> 1; query 1: order 0,3,2,1 -> hits at 2 and 3 -> (1/2 + 2/3) / 2;
    # query 2: hit at 4 -> 1/4
    ap = M.average_precision(SIM, RELEVANT)
    np.testing.assert_allclose(ap, [1.0, (1 / 2 + 2 / 3) / 2, 0.25])
    assert M.mean_average_precision(SIM, RELEVANT) == pytest.approx((1 + 7 / 12 + 0.25) / 3)


def test_ties_rank_relevant_last() -> None:
    sim = np.array([[0.5, 0.5, 0.5]])
    assert M.ranks(sim, [[1]]).tolist() == [3]
    assert M.average_precision(sim, [[1]]).tolist() == [pytest.approx(1 / 3)]


def test_both_directions_by_hand() -> None:
    # 2 audio clips x 3 captions: captions 0, 1 describe clip 0; caption 2 describes clip 1
    sim = np.array([[0.9, 0.2, 0.1], [0.3, 0.8, 0.7]])  # (audio, text)
    rel = [[0, 1], [2]]
    out = M.both_directions(sim, rel, ("audio", "text"), ks=(1, 2))
    a2t, t2a = out["audio->text"], out["text->audio"]
    # audio 0: caption 0 first -> rank 1; audio 1: caption 1 (wrong) first, caption 2 second
    assert a2t["R@1"] == pytest.approx(50.0)
    assert a2t["R@2"] == pytest.approx(100.0)
    assert a2t["median_rank"] == 1.5
    # text 0 -> clip 0 (0.9 vs 0.3) rank 1; text 1 -> clip 0 (0.2 vs 0.8) rank 2;
    # text 2 -> clip 1 (0.7 vs 0.1) rank 1
    assert t2a["R@1"] == pytest.approx(200 / 3)
    assert t2a["mean_rank"] == pytest.approx(4 / 3)
    assert t2a["mAP"] == pytest.approx(100 * (1 + 0.5 + 1) / 3)


@pytest.mark.parametrize(
    ("sim", "relevant"),
    [
        (SIM, [[0], [], [3]]),  # a query without a relevant item
        (SIM, [[0], [2], [4]]),  # position out of range
        (SIM, [[0], [1]]),  # too few queries
        (np.zeros((0, 3)), []),  # empty
        (np.full((1, 2), np.nan), [[0]]),  # NaN
        (SIM, np.ones((2, 4), dtype=bool)),  # matrix of another shape
    ],
)
def test_retrieval_bad_input(sim, relevant) -> None:
    with pytest.raises(BadInput):
        M.ranks(sim, relevant)


def test_both_directions_needs_every_candidate_relevant_somewhere() -> None:
    with pytest.raises(BadInput, match="text item 2 is relevant to no audio item"):
        M.both_directions(np.eye(2, 3), [[0], [1]], ("audio", "text"))
