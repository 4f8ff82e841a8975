"""HL ViT encoder and Hybrid-Learning pre-training model."""

from __future__ import annotations

import itertools
import logging

import pytest
import torch
from _tolerance import close_after_reordering

from ecgfm.losses import MaskedReconstructionLoss
from ecgfm.models import create_model, list_models
from ecgfm.models._vit import Block
from ecgfm.models.hl_vit import HL_GRID, HLPretrain, HLViT, hl_vit_p60_d2_w512


def tiny(**kw) -> HLViT:
    torch.manual_seed(0)
    args = {"patch_size": 50, "embed_dim": 32, "depth": 2, "num_heads": 2, "input_length": 500}
    return HLViT(**{**args, **kw}).eval()


def test_grid_is_registered() -> None:
    names = set(list_models("hl_vit_*"))
    expected = {
        f"hl_vit_p{p}_d{d}_w{w}"
        for p, d, w in itertools.product((60, 125, 250), (2, 4, 8), (256, 512, 1024))
    }
    assert names == expected and len(names) == 27


@pytest.mark.parametrize(
    "name", ["hl_vit_p60_d8_w256", "hl_vit_p125_d4_w1024", "hl_vit_p250_d2_w512"]
)
def test_grid_configurations(name: str) -> None:
    p, d, w = (int(s[1:]) for s in name.split("_")[2:])
    with torch.device("meta"):
        model = create_model(name)
    assert model.patch_size == p and len(model.blocks) == d and model.num_features == w
    assert model.blocks[0].attn.num_heads == w // 64 and model.blocks[0].attn.dim_head == 64
    assert model.num_patches == 2500 // p and model.default_input_length == 2500
    assert model.patch_embed.in_channels == 12


def test_default_configuration_size_and_shapes() -> None:
    model = hl_vit_p60_d2_w512().eval()
    # conv patch embedding 12*60*512 + 512; two blocks (12 d^2 weights, 9 d biases, 2 norms of
    # 2 d); final norm. The sin-cos positions are a buffer, not parameters.
    block = 12 * 512 * 512 + 13 * 512
    assert sum(p.numel() for p in model.parameters()) == 12 * 60 * 512 + 512 + 2 * block + 1024
    x = torch.randn(2, 12, 2500)
    with torch.no_grad():
        tokens = model.forward_features(x)
        emb = model.forward_embedding(x)
    assert tokens.shape == (2, 41, 512) and emb.shape == (2, 512)
    torch.testing.assert_close(emb, tokens.mean(1))
    assert model.ignored_tail == 40 and HL_GRID["patch_size"] == (60, 125, 250)


def test_patch_embedding_is_a_linear_map_of_all_leads_in_a_patch() -> None:
    model = tiny()
    x = torch.randn(2, 12, 500)
    with torch.no_grad():
        tokens = model.embed_tokens(x)
        w = model.patch_embed.weight.reshape(32, -1)  # (D, C * P), lead-major like x[:, :, patch]
        patches = x.reshape(2, 12, 10, 50).permute(0, 2, 1, 3).reshape(2, 10, -1)
        naive = patches @ w.T + model.patch_embed.bias + model.pos_embed[0]
    close_after_reordering(tokens, naive, 12 * 50)  # convolution vs matrix product, C * P terms


def test_tail_is_dropped_as_documented(caplog: pytest.LogCaptureFixture) -> None:
    model = tiny(input_length=520)  # 10 patches + 20 ignored samples
    x = torch.randn(2, 12, 520)
    with torch.no_grad(), caplog.at_level(logging.WARNING, logger="ecgfm.models.hl_vit"):
        full = model.forward_embedding(x)
        cropped = model.forward_embedding(x[..., :500])
        assert not caplog.records  # the configured length is documented, not warned about
        model.forward_embedding(x[..., :510])
        model.forward_embedding(x[..., :510])
    torch.testing.assert_close(full, cropped)
    assert len(caplog.records) == 1 and "last 10 samples are ignored" in caplog.text
    with pytest.raises(ValueError, match="not a multiple of the patch size 50"):
        tiny(remainder="error").forward_embedding(x[..., :510])


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.randn(1, 11, 500), "expects 12 leads"),
        (torch.randn(1, 12, 40), "shorter than the minimum 50"),
        (torch.randn(1, 12, 600), "more than the 10 patches"),
        (torch.randn(1, 12, 500).double().long(), "floating"),
    ],
)
def test_input_validation(x: torch.Tensor, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        tiny().forward_features(x)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="multiple of 64"):
        HLViT(embed_dim=100)
    with pytest.raises(ValueError, match="remainder"):
        HLViT(remainder="pad")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_length >= patch_size"):
        HLViT(patch_size=250, input_length=100)


def test_reduced_lead_configuration() -> None:
    model = tiny(in_leads=("I",))
    out = model(torch.randn(3, 1, 500))
    assert out.shape == (3, 32) and model.patch_embed.in_channels == 1


def test_blocks_are_the_shared_vit_blocks() -> None:
    assert all(isinstance(b, Block) for b in tiny().blocks)


# ---------------------------------------------------------------------------------------------
# pre-training


def tiny_pretrain(**kw) -> HLPretrain:
    torch.manual_seed(1)
    args = {"decoder_dim": 16, "decoder_depth": 1, "decoder_num_heads": 2, "proj_dim": 8, **kw}
    return HLPretrain(tiny(), **args)


def test_generative_path_outputs_and_l1_loss() -> None:
    model = tiny_pretrain()
    x = torch.randn(3, 12, 500)
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert out.pred.shape == out.target.shape == (3, 12, 10, 50) and out.mask.shape == (3, 12, 10)
    # int(10 * 0.25) = 2 visible time patches; a masked time patch is masked in every lead.
    assert torch.all(out.mask.sum(-1) == 8)
    assert torch.equal(out.mask, out.mask[:, :1].expand_as(out.mask))
    torch.testing.assert_close(out.target, x.reshape(3, 12, 10, 50))
    naive = (out.pred - out.target).abs().mean(-1)[out.mask.bool()].mean()
    torch.testing.assert_close(out.loss, naive)
    torch.testing.assert_close(out.loss, MaskedReconstructionLoss("l1")(*out[:3]))


def test_prediction_layout_is_lead_major() -> None:
    model = tiny_pretrain().eval()
    with torch.no_grad():
        model.decoder_head.weight.zero_()
        model.decoder_head.bias.copy_(torch.arange(12 * 50, dtype=torch.float32))
        out = model(torch.randn(1, 12, 500), mask_ratio=0.5)
    expected = torch.arange(12 * 50, dtype=torch.float32).view(12, 1, 50).expand(12, 10, 50)
    torch.testing.assert_close(out.pred[0], expected)


def test_masking_seeded_and_unmasked_latent_equals_encoder() -> None:
    model = tiny_pretrain().eval()
    x = torch.randn(2, 12, 500)
    a = model(x, generator=torch.Generator().manual_seed(3))
    b = model(x, generator=torch.Generator().manual_seed(3))
    c = model(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.pred, b.pred)
    assert not torch.equal(a.mask, c.mask)
    with torch.no_grad():
        latent, ids = model.forward_encoder(x, mask_ratio=0.0)
    torch.testing.assert_close(latent, model.encoder.forward_features(x))
    assert torch.all(ids.mask == 0) and model(x, mask_ratio=0.0).loss is None


def test_masked_patches_are_hidden_from_the_encoder() -> None:
    model = tiny_pretrain().eval()
    x = torch.randn(1, 12, 500)
    with torch.no_grad():
        latent, ids = model.forward_encoder(x, generator=torch.Generator().manual_seed(9))
        masked = int(ids.mask[0].nonzero()[0])
        y = x.clone()
        y[..., masked * 50 : (masked + 1) * 50] = 5.0
        other, _ = model.forward_encoder(y, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(other, latent)


def test_contrastive_path_and_gradients() -> None:
    model = tiny_pretrain()
    x = torch.randn(4, 12, 500)
    z = model.forward_contrastive(x)
    assert z.shape == (4, 8)
    loss = model(x, generator=torch.Generator().manual_seed(0)).loss + z.pow(2).mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_pretrain_validation() -> None:
    with pytest.raises(TypeError, match="HLViT"):
        HLPretrain(torch.nn.Linear(1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask_ratio"):
        tiny_pretrain(mask_ratio=1.5)
