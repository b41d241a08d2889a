import pytest
import torch
import torch.nn.functional as F

from openbind.fusion.cache import EmbeddingCache
from openbind.fusion.pseudo import build_tuples, soft_weights
from openbind.fusion.training import ProjectorTraining, fit_mixture, split_sides
from openbind.types import Modality

from .toy import ToySpace

A, T = Modality.AUDIO, Modality.TEXT


def test_cache_encodes_each_collection_once(tmp_path):
    space = ToySpace("s.v1", 4, ("text",))
    cache = EmbeddingCache(tmp_path)
    first = cache.get(space, "text", ["a", "b", "c"])
    again = EmbeddingCache(tmp_path).get(space, "text", ["a", "b", "c"])
    assert space.calls[T] == 3 and cache.encoded == 3
    torch.testing.assert_close(first, again)
    cache.get(space, "text", ["a", "b", "d"])  # other content: encoded
    assert space.calls[T] == 6


def test_cache_key_is_file_content_not_name(tmp_path):
    space = ToySpace("s.v1", 4, ("audio",))
    for name, data in (("x.wav", b"1"), ("y.wav", b"2")):
        (tmp_path / name).write_bytes(data)
    cache = EmbeddingCache(tmp_path / "c")
    cache.get(space, "audio", [str(tmp_path / "x.wav")])
    (tmp_path / "x.wav").rename(tmp_path / "z.wav")
    (tmp_path / "z.wav").write_bytes(b"1")
    cache.get(space, "audio", [str(tmp_path / "z.wav")])  # same bytes: cached
    assert cache.encoded == 1
    (tmp_path / "z.wav").write_bytes(b"3")
    cache.get(space, "audio", [str(tmp_path / "z.wav")])  # edited: encoded again
    assert cache.encoded == 2


def test_soft_weights_top_k_and_temperature():
    q = F.normalize(torch.randn(3, 5), dim=-1)
    k = F.normalize(torch.randn(10, 5), dim=-1)
    w = soft_weights(q, k, 0.05, 4)
    assert ((w > 0).sum(1) == 4).all()
    torch.testing.assert_close(w.sum(1), torch.ones(3))
    assert (w.argmax(1) == (q @ k.T).argmax(1)).all()


def test_pseudo_tuples_reuse_weights_across_spaces():
    """Text-centred tuples for an audio-only expert: weights found in the target space (which has
    text and audio) pick the expert's encodings of the same audio items."""
    g = torch.Generator().manual_seed(0)
    n_audio, n_text = 6, 4
    ta = F.normalize(torch.randn(n_audio, 8, generator=g), dim=-1)  # target audio
    sa = F.normalize(torch.randn(n_audio, 3, generator=g), dim=-1)  # source (expert) audio
    tt = F.normalize(ta[:n_text] + 0.01 * torch.randn(n_text, 8, generator=g), dim=-1)
    memory = {A: {"source": sa, "target": ta}, T: {"target": tt}}
    tuples = build_tuples(memory, [A, T], tau=0.001, top_k=0)
    assert len(tuples) == n_audio + n_text
    assert tuples.centre[:n_audio] == [A] * n_audio and tuples.centre[n_audio:] == [T] * n_text
    # text-centred rows: text i is nearest to audio i -> the expert row is sa[i]
    torch.testing.assert_close(tuples.rows["source"][A][n_audio:], sa[:n_text], atol=1e-3, rtol=0)
    inputs, targets = split_sides(tuples, "combination")
    assert set(inputs) == {A} and set(targets) == {A, T}


def test_projector_learns_a_rotation_and_resumes(tmp_path):
    g = torch.Generator().manual_seed(1)
    x = F.normalize(torch.randn(600, 6, generator=g), dim=-1)
    rot = torch.linalg.qr(torch.randn(6, 6, generator=g))[0]
    y = F.normalize(torch.cat([x @ rot, torch.zeros(600, 2)], 1), dim=-1)
    memory = {A: {"source": x, "target": y}}
    tuples = build_tuples(memory, [A])
    inputs, targets = split_sides(tuples, "combination")
    cfg = ProjectorTraining(hidden=64, epochs=15, batch_size=128, lr=3e-3, holdout=0.2)
    mix, report = fit_mixture(inputs, targets, tuples, cfg, tmp_path / "ck", log=lambda s: None)
    assert report.best_r1[0] > 0.8  # chance: 1/120
    assert report.pairs_per_s > 0
    # a finished run resumes to the same heads without training
    again, report2 = fit_mixture(inputs, targets, tuples, cfg, tmp_path / "ck", log=lambda s: None)
    torch.testing.assert_close(again.heads[0].fc1.weight, mix.heads[0].fc1.weight)
    assert report2.best_r1 == report.best_r1


def test_interrupted_training_resumes_to_the_same_result(tmp_path, monkeypatch):
    import openbind.fusion.training as training

    g = torch.Generator().manual_seed(2)
    x = F.normalize(torch.randn(200, 5, generator=g), dim=-1)
    y = F.normalize(torch.randn(200, 7, generator=g), dim=-1)
    tuples = build_tuples({A: {"source": x, "target": y}}, [A])
    inputs, targets = split_sides(tuples, "combination")
    cfg = ProjectorTraining(modes=("mix", "audio"), hidden=16, epochs=4, batch_size=64, noise=0.05)
    whole, _ = fit_mixture(inputs, targets, tuples, cfg, tmp_path / "a", log=lambda s: None)

    real, calls = training.heldout_r1, []

    def interrupt_in_second_head(*args):
        calls.append(1)
        if len(calls) == 6:  # epoch 1 of the second head
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(training, "heldout_r1", interrupt_in_second_head)
    with pytest.raises(KeyboardInterrupt):
        fit_mixture(inputs, targets, tuples, cfg, tmp_path / "b", log=lambda s: None)
    monkeypatch.setattr(training, "heldout_r1", real)
    lines = []
    resumed, _ = fit_mixture(inputs, targets, tuples, cfg, tmp_path / "b", log=lines.append)
    assert lines[0] == "head audio: resumed after epoch 0"
    for a, b in zip(whole.heads, resumed.heads, strict=True):
        torch.testing.assert_close(a.fc2.weight, b.fc2.weight)
        torch.testing.assert_close(a.bn2.running_mean, b.bn2.running_mean)
