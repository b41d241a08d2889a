import pytest
import torch

from openbind.errors import UnknownModel
from openbind.fusion import CARDS, MissingComponentSpace, card
from openbind.fusion.projector import FREEBIND_MODES

from .test_projector import _freebind_state
from .toy import ToySpace


def test_cards_describe_freebinds_published_spaces():
    assert set(CARDS) == {
        "freebind_imagebind_pp",
        "freebind_internvl_ib",
        "freebind_internvl_ib_pp",
    }
    pp = card("freebind_imagebind_pp")
    assert pp.paper_name == "ImageBind++" and pp.bonds[0].experts == ("clap_g", "clap_m")
    assert pp.bonds[0].folders == {"clap_g": "IB_PP_G_Proj", "clap_m": "IB_PP_M_Proj"}
    assert [b.kind for b in card("freebind_internvl_ib_pp").bonds] == [
        "displacement",
        "combination",
    ]
    with pytest.raises(UnknownModel, match="freebind_imagebind_pp"):
        card("imagebind_pp")


def test_card_builds_from_released_layout(tmp_path):
    for folder, d_in in (("IB_PP_G_Proj", 12), ("IB_PP_M_Proj", 12)):
        for k, mode in enumerate(FREEBIND_MODES):
            (tmp_path / folder / mode).mkdir(parents=True)
            torch.save(
                _freebind_state(d_in=d_in, d_out=8, seed=k), tmp_path / folder / mode / "best.pt"
            )
    spaces = {
        "base": ToySpace("ib.v1", 8, ("audio", "image", "text")),
        "clap_g": ToySpace("g.v1", 12, ("audio", "text")),
        "clap_m": ToySpace("m.v1", 12, ("audio", "text")),
    }
    fused = card("freebind_imagebind_pp").build(spaces, tmp_path, preset="at_expertise")
    assert fused.bonds[0].factors[fused.modalities[2]] == 0.8  # audio
    assert len(fused.bonds[0].projectors["clap_g"].heads) == 7
    assert fused.encode("audio", ["x"]).vectors.shape == (1, 8)
    with pytest.raises(MissingComponentSpace, match="'clap_m'"):
        card("freebind_imagebind_pp").build(
            {k: v for k, v in spaces.items() if k != "clap_m"}, tmp_path
        )
