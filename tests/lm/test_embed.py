"""embed_tokens: every pooling equals the model's own outputs on padded input, in row order."""

import numpy as np
import pytest

from graphkit.lm.embed import embed_tokens, row_ends, tokenize

TEXTS = ["the graph node", "word", "the text token sentence word graph walk", ""]


@pytest.fixture(scope="module")
def model_and_tokens(tiny_bert):
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(tiny_bert)
    model = transformers.AutoModel.from_pretrained(tiny_bert).eval()
    return model, tokenize(tok, TEXTS, 8)


def _reference(model, tokens):
    import torch

    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in tokens.items()})
    h = out.last_hidden_state.numpy()
    m = tokens["attention_mask"][..., None].astype(np.float32)
    return {"mean": (h * m).sum(1) / m.sum(1), "cls": h[:, 0], "pooler": out.pooler_output.numpy()}


@pytest.mark.parametrize("pooling", ["mean", "cls", "pooler"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_poolings_match_the_model_on_padded_rows(model_and_tokens, pooling, batch_size):
    model, tokens = model_and_tokens
    ref = _reference(model, tokens)[pooling]
    emb = embed_tokens(model, tokens, batch_size=batch_size, pooling=pooling, device="cpu")
    assert emb.dtype == np.float32 and emb.shape == (4, 32)
    # rows are sorted by length and cut to the batch's longest row inside; the result is in row order
    np.testing.assert_allclose(emb, ref, atol=1e-5)
    assert np.abs(emb[0] - emb[1]).max() > 1e-3


def test_without_token_type_ids(model_and_tokens):
    model, tokens = model_and_tokens
    two = {k: tokens[k] for k in ("input_ids", "attention_mask")}
    np.testing.assert_allclose(embed_tokens(model, two, 2, "mean", device="cpu"),
                               embed_tokens(model, tokens, 2, "mean", device="cpu"), atol=1e-6)


def test_row_ends():
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]], np.int8)
    np.testing.assert_array_equal(row_ends(mask), [2, 0, 3, 4])


def test_empty_input(model_and_tokens):
    model, tokens = model_and_tokens
    empty = {k: v[:0] for k, v in tokens.items()}
    assert embed_tokens(model, empty, 4, "mean", device="cpu").shape == (0, 32)
