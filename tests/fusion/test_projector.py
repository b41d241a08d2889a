import pytest
import torch

from openbind.errors import CheckpointMismatch, SpaceMismatch
from openbind.fusion.projector import (
    MixtureOfProjectors,
    Projector,
    export_freebind_head,
    import_freebind_head,
    load_freebind_mixture,
)


def _freebind_state(d_in=12, hidden=16, d_out=8, seed=0):
    """A state dict with FreeBind's released `best.pt` layout (`Head2.mlps.{0,1,3,4}`)."""
    g = torch.Generator().manual_seed(seed)
    s = {}
    for i, (a, b) in {"0": (d_in, hidden), "3": (hidden, d_out)}.items():
        s[f"Head2.mlps.{i}.weight"] = torch.randn(b, a, generator=g)
        s[f"Head2.mlps.{i}.bias"] = torch.randn(b, generator=g)
    for i, n in {"1": hidden, "4": d_out}.items():
        s[f"Head2.mlps.{i}.weight"] = torch.rand(n, generator=g) + 0.5
        s[f"Head2.mlps.{i}.bias"] = torch.randn(n, generator=g)
        s[f"Head2.mlps.{i}.running_mean"] = torch.randn(n, generator=g)
        s[f"Head2.mlps.{i}.running_var"] = torch.rand(n, generator=g) + 0.5
        s[f"Head2.mlps.{i}.num_batches_tracked"] = torch.tensor(100)
    return s


def _reference_forward(s, x):
    """The FreeBind head written out by hand from the state dict (eval-mode batch norm)."""

    def bn(h, i):
        p = f"Head2.mlps.{i}."
        return (h - s[p + "running_mean"]) / torch.sqrt(s[p + "running_var"] + 1e-5) * s[
            p + "weight"
        ] + s[p + "bias"]

    h = torch.relu(bn(x @ s["Head2.mlps.0.weight"].T + s["Head2.mlps.0.bias"], "1"))
    y = bn(h @ s["Head2.mlps.3.weight"].T + s["Head2.mlps.3.bias"], "4")
    return y / y.norm(dim=-1, keepdim=True)


def test_projector_shape_unit_norm_and_xavier():
    torch.manual_seed(0)
    p = Projector(12, 8, hidden=2048).eval()
    y = p(torch.randn(5, 12))
    assert y.shape == (5, 8)
    torch.testing.assert_close(y.norm(dim=-1), torch.ones(5))
    bound = (6 / (12 + 2048)) ** 0.5  # xavier uniform
    assert p.fc1.weight.abs().max() <= bound
    assert p.fc1.weight.abs().max() > 0.9 * bound
    assert [type(m).__name__ for m in p.children()] == ["Linear", "BatchNorm1d"] * 2


def test_projector_refuses_wrong_width():
    with pytest.raises(SpaceMismatch, match=r"\(N, 12\)"):
        Projector(12, 8, 16)(torch.randn(3, 10))


def test_import_freebind_head_matches_reference_forward():
    s = _freebind_state()
    head = import_freebind_head(s)
    assert (head.d_in, head.hidden, head.d_out) == (12, 16, 8)
    x = torch.randn(4, 12)
    torch.testing.assert_close(head(x), _reference_forward(s, x))
    back = export_freebind_head(head)
    assert set(back) == set(s)
    torch.testing.assert_close(back["Head2.mlps.3.weight"], s["Head2.mlps.3.weight"])


def test_import_accepts_dataparallel_prefix():
    s = {"module." + k: v for k, v in _freebind_state().items()}
    assert import_freebind_head(s).d_in == 12


def test_import_wrong_layout_names_the_key():
    s = _freebind_state()
    del s["Head2.mlps.4.running_var"]
    with pytest.raises(CheckpointMismatch, match=r"Head2\.mlps\.4\.running_var"):
        import_freebind_head(s)
    s = _freebind_state()
    s["Head2.mlps.4.bias"] = torch.zeros(9)
    with pytest.raises(CheckpointMismatch, match=r"Head2\.mlps\.4.*bias.*\(9,\)"):
        import_freebind_head(s)
    s = _freebind_state()
    s["Head2.mlps.5.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointMismatch, match=r"unexpected key 'Head2\.mlps\.5\.weight'"):
        import_freebind_head(s)
    with pytest.raises(CheckpointMismatch, match="missing key"):
        import_freebind_head({"fc1.weight": torch.zeros(2, 2)})


def test_mixture_is_mean_of_unit_outputs_renormalised(tmp_path):
    states = [_freebind_state(seed=k) for k in range(3)]
    for mode, s in zip(("mix", "A", "T"), states, strict=True):
        (tmp_path / mode).mkdir()
        torch.save(s, tmp_path / mode / "best.pt")
    mix = load_freebind_mixture(tmp_path, modes=("mix", "A", "T"))
    assert mix.names == ["mix", "A", "T"]
    x = torch.randn(6, 12)
    mean = torch.stack([_reference_forward(s, x) for s in states]).mean(0)
    torch.testing.assert_close(mix(x), mean / mean.norm(dim=-1, keepdim=True))


def test_mixture_heads_must_agree():
    with pytest.raises(SpaceMismatch, match="disagree"):
        MixtureOfProjectors([Projector(4, 3, 8), Projector(5, 3, 8)])
