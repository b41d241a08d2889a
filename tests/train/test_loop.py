import json

import pytest
import torch

from openbind.errors import BadInput, WeightsError
from openbind.train.checkpointing import LAST, load_checkpoint
from openbind.train.loop import METRICS, fit

from .toy import toy_config, toy_dataset, toy_task


class Killed(Exception):
    pass


def _losses(folder) -> dict[int, float]:
    out = {}
    for line in (folder / METRICS).read_text().splitlines():
        rec = json.loads(line)
        if "loss" in rec:
            out[rec["step"]] = rec["loss"]  # a resumed run rewrites steps after the checkpoint
    return out


def test_training_binds_audio_to_the_frozen_anchor(tmp_path):
    task = toy_task()
    anchor_before = task.towers["image"].weight.clone()
    train, val = toy_dataset(256).split(0.25)
    result = fit(task, train, val, toy_config(tmp_path, steps=60, eval_every=30, save_every=30))
    # 64 held-out pairs: chance R@1 is 1/64; the bound audio tower finds its image far above that.
    assert result.val["audio->image/R@1"] > 0.3  # 19x chance (measured 0.48)
    assert result.losses[60] < result.losses[1] / 2
    torch.testing.assert_close(task.towers["image"].weight, anchor_before, rtol=0, atol=0)
    assert (tmp_path / "best.ckpt").exists() and (tmp_path / LAST).exists()


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    data, val = toy_dataset(96).split(0.25)
    straight = toy_task()
    fit(straight, data, val, toy_config(tmp_path / "a"))

    def kill_at_7(step: int, loss: float) -> None:
        if step == 7:
            raise Killed  # after the checkpoint of step 4: steps 5..7 are lost and redone

    with pytest.raises(Killed):
        fit(toy_task(), data, val, toy_config(tmp_path / "b"), on_step=kill_at_7)
    assert load_checkpoint(tmp_path / "b" / LAST)["step"] == 4
    resumed_task = toy_task()  # the frozen anchor comes from the space, not the checkpoint...
    with torch.no_grad():
        for p in resumed_task.towers["audio"].parameters():
            p.add_(1.0)  # ...while the trained tower must come from the checkpoint
    resumed = fit(resumed_task, data, val, toy_config(tmp_path / "b"))

    assert min(resumed.losses) == 5
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")  # exact, with dropout on
    for (name, p), q in zip(straight.named_parameters(), resumed_task.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_a_corrupted_checkpoint_is_a_clear_error_and_is_kept(tmp_path):
    data, val = toy_dataset(64).split(0.25)
    fit(toy_task(), data, val, toy_config(tmp_path, steps=4))
    path = tmp_path / LAST
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(WeightsError, match="corrupted"):
        fit(toy_task(), data, val, toy_config(tmp_path, steps=8))
    assert path.read_bytes() == bytes(blob)  # left for the user to inspect


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    data, val = toy_dataset(64).split(0.25)
    fit(toy_task(), data, val, toy_config(tmp_path, steps=4))
    before = (tmp_path / LAST).read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("openbind.atomic.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        fit(toy_task(), data, val, toy_config(tmp_path, steps=8))
    assert (tmp_path / LAST).read_bytes() == before
    assert load_checkpoint(tmp_path / LAST)["step"] == 4
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []


def test_truncated_checkpoint_is_a_weights_error(tmp_path):
    data, val = toy_dataset(64).split(0.25)
    fit(toy_task(), data, val, toy_config(tmp_path, steps=2))
    path = tmp_path / LAST
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match=r"corrupted|truncated"):
        load_checkpoint(path)


def test_too_little_data_is_bad_input(tmp_path):
    data = toy_dataset(10)
    with pytest.raises(BadInput, match="fewer than one global batch"):
        fit(toy_task(), data, None, toy_config(tmp_path))


def test_empty_dataset_is_bad_input():
    from openbind.data.paired import PairedDataset

    with pytest.raises(BadInput, match="empty"):
        PairedDataset([], {"audio": lambda x: x})


def test_an_accumulated_step_is_the_mean_of_its_micro_batches(tmp_path):
    import dataclasses

    from openbind.data.plan import BatchPlan
    from openbind.train.optim import build_optimizer, build_scheduler

    data, _ = toy_dataset(128).split(0.25)
    cfg = toy_config(tmp_path, steps=1, accum=2)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, batch_size=8))
    trained = toy_task(dropout=0.0)
    result = fit(trained, data, None, cfg)

    by_hand = toy_task(dropout=0.0)
    opt = build_optimizer(by_hand, cfg.optim)
    sched = build_scheduler(opt, cfg.optim, cfg.loop.steps)
    micro = [data.collate([data[i] for i in rows]) for rows in BatchPlan(len(data), 8, stop=2)]
    losses = [by_hand(b).loss for b in micro]
    (sum(losses) / 2).backward()
    torch.nn.utils.clip_grad_norm_(
        [p for p in by_hand.parameters() if p.requires_grad], cfg.optim.clip_grad
    )
    opt.step()
    sched.step()
    assert result.losses[1] == pytest.approx(sum(x.item() for x in losses) / 2, abs=1e-6)
    for p, q in zip(trained.parameters(), by_hand.parameters(), strict=True):
        torch.testing.assert_close(p, q)
