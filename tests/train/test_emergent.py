"""Emergent alignment at CI size: audio bound to images only classifies audio by text.

Measured at this size (640 scenes, 60 steps per stage, threads=1): see docs/training.md.
"""

from openbind.train.emergent import EmergentConfig, run_emergent


def test_audio_bound_through_images_classifies_by_text_at_three_times_chance():
    cfg = EmergentConfig(train_scenes=640, test_scenes=256, steps=60, threads=1)
    report = run_emergent(cfg)
    chance = report.chance["zero_shot_top1"]  # 1/64
    assert report.emergent["zero_shot_top1"] >= 3 * chance
    # The directly bound tower (audio-text pairs) is the ceiling the emergent one is compared with.
    assert report.direct["zero_shot_top1"] >= 3 * chance
    assert report.emergent["colour"] > 0.5  # 2x chance on the factor carried by pitch
