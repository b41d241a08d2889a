import math

import pytest
import torch
import torch.nn.functional as F

from openbind.losses import LogitScale, clip_loss, gather_with_grad, info_nce


def test_info_nce_equals_hand_computed_value():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # logits = 2 * a @ b.T = [[1.2, 0.0], [1.6, 2.0]]
    rows = (-1.2 + math.log(math.exp(1.2) + 1)) + (-2.0 + math.log(math.exp(1.6) + math.exp(2.0)))
    cols = (-1.2 + math.log(math.exp(1.2) + math.exp(1.6))) + (-2.0 + math.log(1 + math.exp(2.0)))
    expected = (rows / 2 + cols / 2) / 2
    assert info_nce(a, b, 2.0).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.4541, abs=1e-4)


def test_info_nce_is_low_for_aligned_and_high_for_shuffled_pairs():
    torch.manual_seed(0)
    x = F.normalize(torch.randn(32, 16), dim=-1)
    aligned = info_nce(x, x, 20.0).item()
    shuffled = info_nce(x, x.roll(1, dims=0), 20.0).item()
    assert aligned < 0.1
    assert shuffled > math.log(32)  # worse than chance


def test_info_nce_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        info_nce(torch.zeros(3, 4), torch.zeros(2, 4), 1.0)


def test_learnable_scale_gets_a_gradient_and_is_clamped():
    scale = LogitScale(1 / 0.07)
    assert scale().item() == pytest.approx(1 / 0.07, rel=1e-5)
    x = F.normalize(torch.randn(8, 4), dim=-1)
    info_nce(x, x.flip(0), scale()).backward()
    grad = scale.log_logit_scale.grad
    assert grad is not None and grad.abs().item() > 0
    assert LogitScale(1000.0)().item() == pytest.approx(100.0)
    assert not LogitScale(10.0, learnable=False).log_logit_scale.requires_grad


def _fake_gather(slices: list[torch.Tensor]):
    def gather(parts: list[torch.Tensor], tensor: torch.Tensor) -> None:
        for i, s in enumerate(slices):
            parts[i].copy_(s)

    return gather


def test_gather_with_world_size_one_is_identity():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x, rank=0, world_size=1) is x


def test_gradient_flows_through_the_gather_into_the_local_slice():
    torch.manual_seed(0)
    a = F.normalize(torch.randn(8, 6), dim=-1)
    b = F.normalize(torch.randn(8, 6), dim=-1)
    # Single process over the global batch of 8: the reference gradient.
    a_ref = a.clone().requires_grad_()
    info_nce(a_ref, b, 5.0).backward()

    # Two fake ranks of 4; each computes the global loss and gets the gradient of its own slice.
    grads = []
    for rank in range(2):
        local = a[rank * 4 : (rank + 1) * 4].clone().requires_grad_()
        gather_a = _fake_gather([a[:4], a[4:]])
        gather_b = _fake_gather([b[:4], b[4:]])
        a_all = gather_with_grad(local, rank=rank, world_size=2, all_gather=gather_a)
        b_all = gather_with_grad(
            b[rank * 4 : (rank + 1) * 4], rank=rank, world_size=2, all_gather=gather_b
        )
        loss = info_nce(a_all, b_all, 5.0)
        assert loss.item() == pytest.approx(info_nce(a, b, 5.0).item(), abs=1e-6)
        loss.backward()
        assert local.grad is not None
        grads.append(local.grad)
    torch.testing.assert_close(torch.cat(grads), a_ref.grad)


def test_clip_loss_uses_the_gather():
    torch.manual_seed(1)
    a, b, other_a, other_b = (F.normalize(torch.randn(4, 3), dim=-1) for _ in range(4))
    calls = []

    def gather(parts, tensor):
        calls.append(tensor.shape)
        for i, s in enumerate([other_a, a] if len(calls) == 1 else [other_b, b]):
            parts[i].copy_(s)

    loss = clip_loss(a, b, 3.0, rank=1, world_size=2, all_gather=gather)
    expected = info_nce(torch.cat([other_a, a]), torch.cat([other_b, b]), 3.0)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert len(calls) == 2


def test_gather_rejects_a_rank_outside_the_group():
    with pytest.raises(ValueError, match="outside"):
        gather_with_grad(torch.zeros(2, 2), rank=2, world_size=2, all_gather=lambda p, t: None)
