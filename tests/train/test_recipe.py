"""Recipes end to end on a tiny generated world: an anchor space, then audio bound to it."""

import torch

from openbind.data.synth import write_world
from openbind.train.checkpointing import LAST, load_checkpoint
from openbind.train.config import load_recipe
from openbind.train.recipe import build_task, run

ANCHOR = """
data: {{train: {manifest}, val_fraction: 0.25, batch_size: 8, cache: true}}
model:
  anchor: text
  dim: 16
  towers:
    image: {{kind: conv_image, widths: [4, 8], image_size: 16}}
    text: {{kind: token_text, widths: [16]}}
  trainable: [image, text]
loop: {{steps: 3, eval_every: 0, save_every: 3, progress: false, out: {out}}}
"""

BIND = """
data: {{train: {manifest}, val_fraction: 0.25, batch_size: 8}}
model:
  anchor: image
  dim: 16
  init: {init}
  cache_frozen: true
  towers:
    image: {{kind: conv_image, widths: [4, 8], image_size: 16}}
    audio: {{kind: wave_audio, widths: [4, 8], sample_rate: 4000, seconds: 0.5}}
lora: {{rank: 0}}
loop: {{steps: 3, eval_every: 0, save_every: 3, progress: false, out: {out}}}
export: {export}
"""


def test_anchor_then_bind_with_init_and_export(tmp_path):
    manifest = write_world(
        tmp_path / "world",
        40,
        seed=1,
        size=16,
        sample_rate=8000,
        modalities=("image", "audio", "text"),
    )
    (tmp_path / "anchor.yaml").write_text(ANCHOR.format(manifest=manifest, out=tmp_path / "anchor"))
    first = run(load_recipe(tmp_path / "anchor.yaml"))
    assert first.step == 3 and set(first.val) >= {"image->text/R@1", "text->image/R@5", "mean_R@1"}
    anchor_image = {
        k: v
        for k, v in load_checkpoint(tmp_path / "anchor" / LAST)["model"].items()
        if k.startswith("towers.image.")
    }

    (tmp_path / "bind.yaml").write_text(
        BIND.format(
            manifest=manifest,
            init=tmp_path / "anchor",
            out=tmp_path / "bind",
            export=f"{tmp_path}/out/starter_",
        )
    )
    second = run(load_recipe(tmp_path / "bind.yaml"))
    assert second.step == 3 and "audio->image/R@1" in second.val
    # The image tower came from the anchor run and stayed frozen; only audio was exported.
    state = load_checkpoint(tmp_path / "bind" / LAST)["model"]
    assert not any(k.startswith("towers.image.") for k in state)
    assert any(k.startswith("towers.audio.") for k in state)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "starter_audio.json",
        "starter_audio.safetensors",
    ]
    task, _, _ = build_task(load_recipe(tmp_path / "bind.yaml"))
    image = task.towers["image"].tower.state_dict()  # inside its CachedTower
    for key, value in anchor_image.items():
        torch.testing.assert_close(image[key.removeprefix("towers.image.")], value, rtol=0, atol=0)
    assert (tmp_path / "bind" / "recipe.yaml").exists()
    assert load_recipe(tmp_path / "bind" / "recipe.yaml").model.anchor == "image"
