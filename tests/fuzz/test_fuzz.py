"""A short sample of the nightly fuzzing (`python -m tests.fuzz`): 5 mutated seed files
per modality and a few Hypothesis byte strings, all obeying the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import MODALITIES, check, fuzz, mutate, seeds, transforms

TRANSFORMS = transforms(light=True)


@pytest.mark.parametrize("modality", MODALITIES)
def test_seeds_are_valid_and_mutations_obey_the_oracle(modality: str) -> None:
    for data in seeds(modality):  # every seed must embed: otherwise mutating it tests nothing
        out = TRANSFORMS[modality](data)
        assert out.shape[0] >= 1, modality
    n = len(seeds(modality)) + 5
    report = fuzz(modality, 60, seed=18, max_inputs=n, transform=TRANSFORMS[modality])
    assert report.inputs[modality] == n
    assert report.findings == [], report.findings[0].problem


def test_mutate_is_deterministic_and_changes_the_input() -> None:
    data = seeds("image")[0]
    a = mutate(data, np.random.default_rng(3))
    assert a == mutate(data, np.random.default_rng(3)) and a != data


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(MODALITIES), st.binary(max_size=512))
def test_random_bytes_obey_the_oracle(modality: str, data: bytes) -> None:
    assert check(modality, TRANSFORMS[modality], data) is None
