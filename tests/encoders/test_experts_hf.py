"""transformers CLIP / CLAP and sentence-transformers adapters, on tiny random models built here."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

WORDS = "[PAD] [UNK] [BOS] [EOS] a the cat dog photo of man woman speaking barking car red blue"
VOCAB = {w: i for i, w in enumerate(WORDS.split())}
TEXTS = ["a cat", "the red car of a man", "dog"]


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tk = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 2), ("[EOS]", 3)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
    )


TEXT = dict(
    vocab_size=len(VOCAB),
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    pad_token_id=0,
    bos_token_id=2,
    eos_token_id=3,
)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    cfg = transformers.CLIPConfig(
        text_config=dict(TEXT, max_position_embeddings=32),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=12,
    )
    torch.manual_seed(0)
    transformers.CLIPModel(cfg).save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    transformers.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clap_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clap")
    cfg = transformers.ClapConfig(
        text_config=dict(TEXT, max_position_embeddings=40),
        audio_config=dict(
            spec_size=128,
            window_size=4,
            num_mel_bins=64,
            depths=[1, 1],
            num_attention_heads=[1, 2],
            patch_embeds_hidden_size=16,
            hidden_size=32,
            patch_stride=[4, 4],
            patch_size=4,
            enable_fusion=False,
        ),
        projection_dim=12,
    )
    torch.manual_seed(0)
    transformers.ClapModel(cfg).save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    transformers.ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=16000,
        hop_length=160,
        max_length_s=1,
        fft_window_size=400,
        truncation="rand_trunc",
    ).save_pretrained(folder)
    return folder


def _text_reference(model, folder, texts, method="get_text_features"):
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = getattr(model, method)(
            input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
        )
    out = out if isinstance(out, torch.Tensor) else out.pooler_output
    return F.normalize(out, dim=-1)


def test_clip_adapter_matches_the_model(clip_folder):
    from openbind.zoo.experts import clip_space

    space = clip_space(clip_folder, "clip_tiny.test")
    model = transformers.CLIPModel.from_pretrained(str(clip_folder)).eval()
    assert space.dim == 12 and set(space.modalities) == {"text", "image"}
    got = space.encode("text", TEXTS).vectors
    torch.testing.assert_close(got, _text_reference(model, clip_folder, TEXTS), atol=1e-5, rtol=0)
    alone = space.encode("text", TEXTS[1]).vectors  # padding in a batch changes nothing
    torch.testing.assert_close(alone[0], got[1], atol=1e-5, rtol=0)
    image = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    processor = transformers.AutoImageProcessor.from_pretrained(str(clip_folder))
    from PIL import Image

    pixels = processor(images=Image.fromarray(image), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ref = model.get_image_features(pixel_values=pixels)
    ref = ref if isinstance(ref, torch.Tensor) else ref.pooler_output
    torch.testing.assert_close(
        space.encode("image", image).vectors, F.normalize(ref, dim=-1), atol=1e-5, rtol=0
    )
    assert space.logit_scale("image") == pytest.approx(float(model.logit_scale.detach().exp()))


def test_clap_adapter_matches_the_model(clap_folder):
    from openbind.zoo.experts import clap_space

    space = clap_space(clap_folder, "clap_tiny.test")
    model = transformers.ClapModel.from_pretrained(str(clap_folder)).eval()
    torch.testing.assert_close(
        space.encode("text", TEXTS).vectors,
        _text_reference(model, clap_folder, TEXTS),
        atol=1e-5,
        rtol=0,
    )
    wave = (np.random.default_rng(1).normal(size=12000) * 0.1).astype(np.float32)
    extractor = transformers.AutoFeatureExtractor.from_pretrained(str(clap_folder))
    feats = extractor(wave, sampling_rate=16000, return_tensors="pt")["input_features"]
    with torch.no_grad():
        ref = model.get_audio_features(input_features=feats)
    ref = ref if isinstance(ref, torch.Tensor) else ref.pooler_output
    got = space.encode("audio", [(wave, 16000)]).vectors  # a bare tuple would be two items
    torch.testing.assert_close(got, F.normalize(ref, dim=-1), atol=1e-5, rtol=0)


def test_sentence_transformers_adapter_matches_encode(tmp_path):
    st = pytest.importorskip("sentence_transformers")
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    from openbind.zoo.experts import sentence_space

    bert = tmp_path / "bert"
    torch.manual_seed(0)
    transformers.BertModel(
        transformers.BertConfig(
            vocab_size=len(VOCAB),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=32,
        )
    ).save_pretrained(bert)
    _tokenizer().save_pretrained(bert)
    word = Transformer(str(bert), max_seq_length=24)
    model = st.SentenceTransformer(modules=[word, Pooling(16, "mean")], device="cpu")
    model.save(str(tmp_path / "st"))
    space = sentence_space(tmp_path / "st", "st_tiny.test")
    assert space.dim == 16
    ref = model.encode(TEXTS, convert_to_tensor=True, normalize_embeddings=True)
    torch.testing.assert_close(space.encode("text", TEXTS).vectors, ref.cpu(), atol=1e-5, rtol=0)
