"""The CI-sized fusion proof: the speaker encoder bonded onto the starter's audio improves speaker
retrieval at the Versatile audio factor (0.5) while audio -> text zero-shot stays put.

Measured (docs/fusion.md, CI size: 10 test speakers x 4 sentences, 96 test sounds): speaker R@1
0.400 -> 0.525 at audio 0.5, zero-shot 1.000 -> 1.000. Asserted margins: at least +0.075
(3 of 40 clips) on speaker R@1, at most -0.05 on zero-shot.
"""

import importlib.util
import shutil

import pytest

from openbind.fusion.fused import load_fused
from openbind.fusion.proof import ProofSize, run

pytestmark = [
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng"),
    pytest.mark.skipif(
        importlib.util.find_spec("resemblyzer") is None,
        reason="pip install --no-deps resemblyzer (the speaker weights)",
    ),
]


def test_speaker_fusion_gains_on_the_expert_task_and_keeps_the_general_one(tmp_path):
    result = run(ProofSize.ci(), tmp_path, steps=3, log=lambda s: None)  # audio 0, 0.5, 1
    rows = {(r["audio"], r["preset"]): r for r in result["rows"]}
    starter, versatile = rows[(0.0, "")], rows[(0.5, "Versatile")]
    assert rows[(0.5, "")]["speaker_r1"] == versatile["speaker_r1"]
    assert versatile["speaker_r1"] >= starter["speaker_r1"] + 0.075, result["rows"]
    assert versatile["zero_shot_top1"] >= starter["zero_shot_top1"] - 0.05, result["rows"]
    assert starter["zero_shot_top1"] > 0.5  # 12 classes: chance 0.083
    # the saved space reloads with the same components and encodes alike
    fused = result["fused"]
    again = load_fused(
        tmp_path / "run" / "fused", {"base": fused.base, "speaker": fused.experts["speaker"]}
    )
    assert again.model_id == "starter_speaker.fused" and again.dim == 384
    assert again.bonds[0].factors == fused.bonds[0].factors
