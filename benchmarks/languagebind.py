"""Speed of openbind's LanguageBind video and audio towers beside plain `transformers` CLIP modules.

Both run the same random ViT-L/14 weights (LanguageBind Large: width 1024, 24 layers, 16 heads):

* video: 8 frames of 224 x 224 per clip, temporal attention before every block. The plain
  version is the reference's structure written with `transformers` modules: `CLIPVisionModel`'s
  embeddings and encoder layers, plus a `CLIPAttention` + `LayerNorm` temporal branch per layer
  (the reference code itself does not import on current transformers);
* audio: (3, 112, 1036) fbank chunks, an 8 x 74 patch grid (593 positions);
  `CLIPVisionModelWithProjection` with its position table replaced by the 593-row one.

The outputs of each pair are compared (max |diff|) so the speeds are measured at equal output;
the models of a comparison are timed in turn in every round (best round counts), so that a
shared machine's changing load hits them alike.
The temporal-attention cost is openbind's video tower over the same tower without the temporal
branches (8 frames run as 8 images, averaged). Target (issue 13): at most 1.3x.

On a small CPU the full ViT-L is slow (seconds per clip); `--layers 4` keeps every shape but the
depth, and the per-layer costs (hence the ratios) do not depend on the depth.

Usage:
    .venv/bin/python benchmarks/languagebind.py [--layers 24] [--clips 2] [--repeats 2]

Prints a table and writes benchmarks/results/languagebind.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn

RESULTS = Path(__file__).parent / "results" / "languagebind.json"
TEMPORAL_TARGET = 1.3


def _spec(layers: int, **kw):
    from openbind.encoders.languagebind import VisionSpec

    return VisionSpec(width=1024, layers=layers, heads=16, mlp=4096, patch=14, **kw)


def _hf_config(layers: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=layers,
        num_attention_heads=16,
        image_size=224,
        patch_size=14,
        projection_dim=768,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
    )


class PlainVideoTower(nn.Module):
    """LanguageBind's video tower from `transformers` CLIP modules (HF key layout)."""

    def __init__(self, layers: int, frames: int = 8) -> None:
        super().__init__()
        from transformers import CLIPVisionModelWithProjection
        from transformers.models.clip.modeling_clip import CLIPAttention

        cfg = _hf_config(layers)
        self.model = CLIPVisionModelWithProjection(cfg)
        self.frames = frames
        vm = self.model.vision_model
        for layer in vm.encoder.layers:
            layer.temporal_embedding = nn.Parameter(torch.randn(1, frames, 1024) * 1024**-0.5)
            layer.temporal_layer_norm1 = nn.LayerNorm(1024, eps=1e-5)
            layer.temporal_attn = CLIPAttention(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vm = self.model.vision_model
        b, t = x.shape[0], x.shape[2]
        frames = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, H, W)
        hidden = vm.pre_layrnorm(vm.embeddings(frames))
        for layer in vm.encoder.layers:
            n, d = hidden.shape[1:]
            y = hidden.view(b, t, n, d).transpose(1, 2).reshape(b * n, t, d)
            y = y + layer.temporal_embedding[:, :t]
            y = y + layer.temporal_attn(layer.temporal_layer_norm1(y))[0]
            hidden = y.view(b, n, t, d).transpose(1, 2).reshape(b * t, n, d)
            out = layer(hidden, None)
            hidden = out[0] if isinstance(out, tuple) else out  # a tuple in transformers < 5
        pooled = vm.post_layernorm(hidden[:, 0]).view(b, t, -1).mean(1)
        return self.model.visual_projection(pooled)

    def hf_state(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())


class PlainAudioTower(nn.Module):
    """`CLIPVisionModelWithProjection` on (3, 112, 1036) with a 593-row position table."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        from transformers import CLIPVisionModelWithProjection

        self.model = CLIPVisionModelWithProjection(_hf_config(layers))
        emb = self.model.vision_model.embeddings
        emb.position_embedding = nn.Embedding(593, 1024)
        emb.register_buffer("position_ids", torch.arange(593)[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vm = self.model.vision_model
        emb = vm.embeddings
        patches = emb.patch_embedding(x).flatten(2).transpose(1, 2)  # (B, 592, D)
        cls = emb.class_embedding.expand(x.shape[0], 1, -1)
        tokens = torch.cat([cls, patches], dim=1) + emb.position_embedding.weight
        hidden = vm.encoder(inputs_embeds=vm.pre_layrnorm(tokens))
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden.last_hidden_state
        return self.model.visual_projection(vm.post_layernorm(hidden[:, 0]))

    def hf_state(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())


def _ours(plain: nn.Module, spec, modality: str) -> nn.Module:
    from openbind.encoders.languagebind import ClipVisionTower
    from openbind.keymap import apply as apply_key_map
    from openbind.zoo.hf_clip_keys import VISION_KEYS

    state = plain.hf_state()
    state["logit_scale"] = torch.tensor(2.6592)
    mapped = apply_key_map(VISION_KEYS, state, source="transformers")
    tower = ClipVisionTower(spec, 768, modality)
    tower.load_state_dict(mapped, strict=True)
    return tower.eval()


@torch.inference_mode()
def _rates(
    models: list[nn.Module], x: torch.Tensor, repeats: int
) -> tuple[list[float], list[torch.Tensor]]:
    """Clips/s of each model on `x` (best of `repeats`), the models timed in turn in every round
    so that a shared machine's load changes hit them alike; and each model's output."""
    outs = [m(x) for m in models]  # warm-up
    best = [float("inf")] * len(models)
    for _ in range(repeats):
        for i, m in enumerate(models):
            start = time.perf_counter()
            m(x)
            best[i] = min(best[i], time.perf_counter() - start)
    return [x.shape[0] / t for t in best], outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []

    from openbind.encoders.languagebind import ClipVisionTower

    plain_video = PlainVideoTower(args.layers).eval()
    ours_video = _ours(plain_video, _spec(args.layers, frames=8, temporal=True), "video")
    no_temporal = ClipVisionTower(_spec(args.layers, frames=8), 768, "video").eval()
    video = torch.randn(args.clips, 3, 8, 224, 224)
    (rate_ours, rate_plain, rate_flat), (out_ours, out_plain, _) = _rates(
        [ours_video, plain_video, no_temporal], video, args.repeats
    )
    rows.append(
        ("video (8 x 224^2)", rate_ours, rate_plain, (out_ours - out_plain).abs().max().item())
    )
    del plain_video

    plain_audio = PlainAudioTower(args.layers).eval()
    ours_audio = _ours(plain_audio, _spec(args.layers, input_size=(112, 1036)), "audio")
    audio = torch.randn(args.clips * 4, 3, 112, 1036)
    (rate_ours_a, rate_plain_a), (out_ours_a, out_plain_a) = _rates(
        [ours_audio, plain_audio], audio, args.repeats
    )
    rows.append(
        (
            "audio (3 x 112 x 1036)",
            rate_ours_a,
            rate_plain_a,
            (out_ours_a - out_plain_a).abs().max().item(),
        )
    )
    temporal_cost = rate_flat / rate_ours

    print(
        f"ViT-L/14 towers, {args.layers} layers, random weights, {torch.get_num_threads()} threads"
    )
    print(
        f"{'tower':<24}{'openbind clips/s':>18}{'transformers clips/s':>22}{'speedup':>9}{'max|diff|':>11}"
    )
    for name, ours, plain, diff in rows:
        print(f"{name:<24}{ours:>18.3f}{plain:>22.3f}{ours / plain:>9.2f}{diff:>11.2e}")
    verdict = "ok" if temporal_cost <= TEMPORAL_TARGET else "over target"
    print(
        f"temporal attention cost: {temporal_cost:.2f}x the tower without it "
        f"(target <= {TEMPORAL_TARGET}x: {verdict})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "threads": torch.get_num_threads(),
                "layers": args.layers,
                "clips": args.clips,
                "towers": [
                    {
                        "tower": n,
                        "openbind_clips_s": o,
                        "transformers_clips_s": p,
                        "max_abs_diff": d,
                    }
                    for n, o, p, d in rows
                ],
                "temporal_cost_ratio": temporal_cost,
                "temporal_target": TEMPORAL_TARGET,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
