"""ST-MEM encoder and pre-training model: sizes, reduced-lead semantics, SEP/positions, masking."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from _tolerance import close_after_reordering, network_reduction_lengths

from ecgfm.leads import CANONICAL_LEADS
from ecgfm.losses import MaskedReconstructionLoss
from ecgfm.models import create_model, list_models
from ecgfm.models._vit import Attention, Block, random_masking
from ecgfm.models.st_mem import (
    STMEMPretrain,
    STMEMViT,
    st_mem_pretrain_base,
    st_mem_vit_base,
    st_mem_vit_small,
)

TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2, "dim_head": 16, "mlp_dim": 64}


def tiny_encoder(**kw) -> STMEMViT:
    torch.manual_seed(0)
    return STMEMViT(seq_len=600, patch_size=75, **{**TINY, **kw}).eval()


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# naive reference: tokens assembled lead by lead, explicit softmax attention


def naive_block(block: Block, h: torch.Tensor) -> torch.Tensor:
    attn = block.attn
    b, n, _ = h.shape
    q, k, v = attn.qkv(block.norm1(h)).chunk(3, dim=-1)
    q, k, v = (t.view(b, n, attn.num_heads, attn.dim_head).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(attn.dim_head), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(b, n, -1)
    h = h + attn.proj(out)
    return h + block.mlp.fc2(F.gelu(block.mlp.fc1(block.norm2(h))))


def naive_encode(model: STMEMViT, x: torch.Tensor, leads: tuple[str, ...]) -> torch.Tensor:
    """Pre-norm tokens (B, C, N + 2, D) computed the slow, explicit way."""
    b, c, t = x.shape
    p = model.patch_size
    n = t // p
    pos = model.pos_embed[0]
    seqs = []
    for ch, name in enumerate(leads):
        lead = model.lead_embed[CANONICAL_LEADS.index(name)]
        patches = model.patch_embed(x[:, ch].reshape(b, n, p)) + pos[1 : n + 1]
        left = (model.sep_token + pos[0]).expand(b, 1, -1)
        right = (model.sep_token + pos[-1]).expand(b, 1, -1)
        seqs.append(torch.cat([left, patches, right], dim=1) + lead)
    h = torch.cat(seqs, dim=1)
    for block in model.blocks:
        h = naive_block(block, h)
    return h.view(b, c, n + 2, -1)


# ---------------------------------------------------------------------------------------------
# sizes and registry


def test_registered_names() -> None:
    assert {"st_mem_vit_base", "st_mem_vit_small"} <= set(list_models("st_mem_*"))


def test_vit_base_parameter_counts() -> None:
    with torch.device("meta"):
        encoder = st_mem_vit_base()
        pretrain = st_mem_pretrain_base()
    assert num_params(encoder) == 85_150_614
    assert num_params(pretrain) == 88_534_753
    assert encoder.num_features == 768
    assert encoder.default_input_length == 2250 and encoder.in_leads == CANONICAL_LEADS


def test_vit_small_configuration() -> None:
    with torch.device("meta"):
        model = st_mem_vit_small()
    assert model.num_features == 384 and len(model.blocks) == 12
    assert model.blocks[0].attn.num_heads == 6 and model.blocks[0].attn.dim_head == 64
    assert model.blocks[0].mlp.fc1.out_features == 1536


def test_create_model_records_overrides() -> None:
    model = create_model("st_mem_vit_small", depth=1, in_leads=("I",))
    assert model.arch_name == "st_mem_vit_small" and model.arch_args["depth"] == 1
    assert len(model.blocks) == 1 and model.in_leads == ("I",)


# ---------------------------------------------------------------------------------------------
# forward semantics


def test_twelve_leads_match_naive_reference() -> None:
    model = tiny_encoder()
    x = torch.randn(2, 12, 600)
    with torch.no_grad():
        ref = naive_encode(model, x, CANONICAL_LEADS)
        tokens = model.forward_features(x)
        emb = model.forward_embedding(x)
    assert tokens.shape == (2, 12 * 10, 32)
    chain = network_reduction_lengths(model, tokens=12 * 10)  # naive loop vs batched kernels
    close_after_reordering(tokens, model.norm(ref).flatten(1, 2), *chain)
    close_after_reordering(emb, model.norm(ref[:, :, 1:-1].mean((1, 2))), *chain, 12 * 8)


@pytest.mark.parametrize("leads", [("I",), ("V1",), ("II", "aVF", "V6"), CANONICAL_LEADS[:6]])
def test_reduced_leads_use_the_named_lead_embeddings(leads: tuple[str, ...]) -> None:
    model = tiny_encoder()
    x = torch.randn(2, len(leads), 600)
    with torch.no_grad():
        tokens = model.forward_features(x, leads=leads)
        ref = naive_encode(model, x, leads)
    assert tokens.shape == (2, len(leads) * 10, 32)
    chain = network_reduction_lengths(model, tokens=len(leads) * 10)
    close_after_reordering(tokens, model.norm(ref).flatten(1, 2), *chain)


def test_one_lead_depends_on_its_name_and_is_not_broadcast() -> None:
    model = tiny_encoder()
    x = torch.randn(2, 1, 600)
    with torch.no_grad():
        as_i = model.forward_embedding(x, leads=("I",))
        as_v1 = model.forward_embedding(x, leads=("V1",))
        # The official code would add all 12 lead embeddings to the single lead (12 sequences).
        broadcast = model.forward_embedding(x.expand(-1, 12, -1), leads=CANONICAL_LEADS)
        single = model.forward_features(x, leads=("I",))
    assert single.shape == (2, 10, 32)  # one lead: N + 2 tokens, not 12 (N + 2)
    assert (as_i - as_v1).abs().max() > 1e-3
    assert (as_i - broadcast).abs().max() > 1e-3


def test_lead_order_follows_names() -> None:
    """Permuting channels together with their names permutes the lead blocks of the tokens."""
    model = tiny_encoder()
    x = torch.randn(2, 12, 600)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(3))
    names = tuple(CANONICAL_LEADS[i] for i in perm)
    with torch.no_grad():
        base = model.forward_features(x).view(2, 12, 10, 32)
        permuted = model.forward_features(x[:, perm], leads=names).view(2, 12, 10, 32)
        emb = model.forward_embedding(x[:, perm], leads=names)
        wrong = model.forward_embedding(x[:, perm])  # names not given: canonical assumed
    chain = network_reduction_lengths(model, tokens=12 * 10)  # attention sums in another order
    close_after_reordering(permuted, base[:, perm], *chain)
    close_after_reordering(emb, model.forward_embedding(x), *chain, 12 * 8)
    assert (wrong - emb).abs().max() > 1e-3


def test_lead_aliases_and_in_leads_default() -> None:
    model = tiny_encoder(in_leads=("I", "II"))
    x = torch.randn(1, 2, 600)
    with torch.no_grad():
        default = model.forward_embedding(x)
        aliased = model.forward_embedding(x, leads=("lead i", "MLII"))
    torch.testing.assert_close(default, aliased)


def test_sep_and_position_semantics() -> None:
    model = tiny_encoder()
    pos = model.pos_embed[0]
    assert torch.all(pos[0] == 0) and torch.all(pos[-1] == 0)
    # Rows 1..N are the sin-cos code of patch 0..N-1: sin(0) = 0 / cos(0) = 1 for patch 0.
    torch.testing.assert_close(pos[1], torch.cat([torch.zeros(16), torch.ones(16)]))
    x = torch.randn(1, 2, 300)  # 4 patches of the 8 the table allows
    idx = model.lead_indices(("aVL", "V3"), 2, x.device)
    with torch.no_grad():
        tokens = model.embed_tokens(x, idx)
        patches = model.patch_embed(model.patchify(x))
    assert tokens.shape == (1, 2, 6, 32)
    for ch, lead in enumerate((4, 8)):
        lead_vec = model.lead_embed[lead]
        torch.testing.assert_close(tokens[0, ch, 0], model.sep_token + pos[0] + lead_vec)
        # The right SEP keeps the last table row even for a shorter input (official behaviour).
        torch.testing.assert_close(tokens[0, ch, -1], model.sep_token + pos[-1] + lead_vec)
        torch.testing.assert_close(tokens[0, ch, 1:-1], patches[0, ch] + pos[1:5] + lead_vec)


def test_shorter_input_accepted_and_head() -> None:
    model = tiny_encoder(num_classes=5)
    out = model(torch.randn(3, 12, 150))
    assert out.shape == (3, 5)


@pytest.mark.parametrize(
    ("x", "leads", "match"),
    [
        (torch.randn(1, 12, 610), None, "not a multiple of the patch size 75"),
        (torch.randn(1, 12, 675), None, "exceeds the 600 samples"),
        (torch.randn(1, 3, 600), None, "3 channels but the model's in_leads name 12"),
        (torch.randn(1, 2, 600), ("I",), "2 channels but `leads` name 1"),
        (torch.randn(1, 1, 600), ("-aVR",), "no embedding for"),
        (torch.randn(12, 600), None, "add a batch axis"),
        (torch.ones(1, 12, 600, dtype=torch.int32), None, "floating"),
    ],
)
def test_input_validation(x: torch.Tensor, leads, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        tiny_encoder().forward_features(x, leads=leads)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="multiple of patch_size"):
        STMEMViT(seq_len=100, patch_size=75, **TINY)
    with pytest.raises(ValueError, match="no embedding"):
        STMEMViT(seq_len=600, in_leads=("I", "-aVR"), **TINY)


# ---------------------------------------------------------------------------------------------
# pre-training model


def tiny_pretrain(**kw) -> STMEMPretrain:
    torch.manual_seed(1)
    kw = {
        "decoder_dim": 16,
        "decoder_depth": 1,
        "decoder_num_heads": 2,
        "decoder_dim_head": 8,
        **kw,
    }
    return STMEMPretrain(tiny_encoder(), **kw)


def test_pretrain_outputs_and_official_loss() -> None:
    model = tiny_pretrain()
    x = torch.randn(3, 12, 600)
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert out.pred.shape == out.target.shape == (3, 12, 8, 75)
    assert out.mask.shape == (3, 12, 8)
    # int(8 * 0.25) = 2 visible patches per lead, the rest masked.
    assert torch.all(out.mask.sum(-1) == 6)
    # norm_pix targets: per patch mean 0, unbiased std 1.
    torch.testing.assert_close(out.target.mean(-1), torch.zeros(3, 12, 8), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.target.std(-1), torch.ones(3, 12, 8), atol=1e-4, rtol=0)
    naive = ((out.pred - out.target) ** 2).mean(-1)[out.mask.bool()].mean()
    torch.testing.assert_close(out.loss, naive)
    torch.testing.assert_close(out.loss, MaskedReconstructionLoss("mse")(*out[:3]))
    raw = model.encoder.patchify(x)
    torch.testing.assert_close(
        out.loss, MaskedReconstructionLoss("mse", norm_pix=True)(out.pred, raw, out.mask)
    )


def test_masking_is_seeded() -> None:
    model = tiny_pretrain()
    x = torch.randn(2, 12, 600)
    a = model(x, generator=torch.Generator().manual_seed(7))
    b = model(x, generator=torch.Generator().manual_seed(7))
    c = model(x, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.pred, b.pred)
    assert not torch.equal(a.mask, c.mask)


def test_masked_encoder_sees_only_kept_patches() -> None:
    model = tiny_pretrain()
    x = torch.randn(2, 12, 600)
    gen = torch.Generator().manual_seed(5)
    latent, ids = model.forward_encoder(x, generator=gen)
    assert latent.shape == (2, 12, 2 + 2, 32)
    # Changing a masked patch leaves the latent unchanged; changing a visible one does not.
    masked = int(ids.mask[0, 0].nonzero()[0])
    visible = int(ids.ids_keep[0, 0, 0])
    for patch, changes in ((masked, False), (visible, True)):
        y = x.clone()
        # Not a constant: the patch embedding starts with a LayerNorm over the patch.
        y[0, 0, patch * 75 : (patch + 1) * 75] += torch.linspace(0.0, 3.0, 75)
        other, _ = model.forward_encoder(y, generator=torch.Generator().manual_seed(5))
        assert bool((other - latent).abs().max() > 1e-4) is changes


def test_decoder_is_lead_wise() -> None:
    """No cross-lead attention in the decoder: lead j's prediction ignores lead k's latent."""
    model = tiny_pretrain().eval()
    x = torch.randn(2, 12, 600)
    with torch.no_grad():
        latent, ids = model.forward_encoder(x, generator=torch.Generator().manual_seed(0))
        pred = model.forward_decoder(latent, ids.ids_restore)
        bumped = latent.clone()
        bumped[:, 4] += 1.0
        pred2 = model.forward_decoder(bumped, ids.ids_restore)
    keep = [i for i in range(12) if i != 4]
    torch.testing.assert_close(pred2[:, keep], pred[:, keep], atol=1e-6, rtol=0)
    assert (pred2[:, 4] - pred[:, 4]).abs().max() > 1e-3


def test_pretrain_reduced_leads_and_no_mask() -> None:
    model = tiny_pretrain().eval()
    x = torch.randn(2, 1, 600)
    with torch.no_grad():
        out = model(x, leads=("V2",), mask_ratio=0.0)
        latent, _ = model.forward_encoder(x, leads=("V2",), mask_ratio=0.0)
    assert out.pred.shape == (2, 1, 8, 75) and out.loss is None
    assert torch.all(out.mask == 0)
    torch.testing.assert_close(
        latent.flatten(1, 2), model.encoder.forward_features(x, leads=("V2",))
    )


def test_pretrain_backward_reaches_trainable_parameters() -> None:
    model = tiny_pretrain()
    model(torch.randn(2, 12, 600), generator=torch.Generator().manual_seed(0)).loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        else:
            assert name in ("encoder.pos_embed", "decoder_pos_embed") and p.grad is None


def test_pretrain_validation() -> None:
    with pytest.raises(TypeError, match="STMEMViT"):
        STMEMPretrain(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask_ratio"):
        tiny_pretrain(mask_ratio=1.0)
    with pytest.raises(ValueError, match="keeps no token"):
        tiny_pretrain()(torch.randn(1, 12, 600), mask_ratio=0.95)


# ---------------------------------------------------------------------------------------------
# shared blocks


def test_fused_attention_equals_explicit() -> None:
    torch.manual_seed(0)
    attn = Attention(24, num_heads=3, dim_head=10).eval()
    x = torch.randn(2, 7, 24)
    out, weights = attn.forward_with_attention(x)
    # fused scaled-dot-product kernel vs explicit softmax: q.k over 10, softmax and weighted
    # sum over 7 tokens, output projection over 30
    close_after_reordering(attn(x), out, 24, 10, 7, 7, 30)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 7))


def test_random_masking_properties() -> None:
    ids = random_masking((4, 3), 30, 0.75, generator=torch.Generator().manual_seed(0))
    assert ids.ids_keep.shape == (4, 3, 7) and ids.ids_restore.shape == (4, 3, 30)
    assert torch.all(ids.mask.sum(-1) == 23)
    # The kept indices are exactly the unmasked positions.
    kept = torch.zeros(4, 3, 30).scatter_(-1, ids.ids_keep, 1.0)
    assert torch.equal(kept, 1 - ids.mask)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        random_masking((1,), 30, -0.1)
