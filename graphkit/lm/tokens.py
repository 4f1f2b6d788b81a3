"""The token features of a graph's node types (written by the ``tokenize_hf`` construction transform).

A node type is a *text* type when it has ``input_ids`` and ``attention_mask`` features
(GraphStorm's fixed names; ``token_type_ids`` is optional), each ``(num_nodes, max_seq_length)``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from graphkit.errors import GraphkitError, did_you_mean
from graphkit.schema.graph_meta import GraphMeta
from graphkit.schema.tokens import REQUIRED_TOKEN_FEATURES, TOKEN_FEATURES
from graphkit.storage.graph import Graph

_TOKENIZE_HINT = ("Add a tokenize_hf transform on the node type's text column to the construction config "
                  "({\"feature_col\": \"text\", \"transform\": {\"name\": \"tokenize_hf\", \"bert_model\": MODEL, "
                  "\"max_seq_length\": 128}}) and construct the graph again.")


def text_node_types(meta: GraphMeta) -> list[str]:
    """Node types with token features, in graph order."""
    return [t for t, m in meta.node_types.items() if all(f in m.features for f in REQUIRED_TOKEN_FEATURES)]


def check_text_node_types(meta: GraphMeta, ntypes: Optional[Sequence[str]], option: str = "--ntypes") -> list[str]:
    """``ntypes`` checked (each exists and has tokens), or every text type when None; never empty."""
    if ntypes is None:
        found = text_node_types(meta)
        if not found:
            raise GraphkitError("no node type of this graph has token features (input_ids, attention_mask).",
                                hint=_TOKENIZE_HINT)
        return found
    for t in ntypes:
        if t not in meta.node_types:
            raise GraphkitError(f"{option}: unknown node type '{t}'.", hint=did_you_mean(t, meta.node_types))
        missing = [f for f in REQUIRED_TOKEN_FEATURES if f not in meta.node_types[t].features]
        if missing:
            raise GraphkitError(f"{option}: node type '{t}' has no token features ({', '.join(missing)} missing).",
                                hint=_TOKENIZE_HINT)
    if not ntypes:
        raise GraphkitError(f"{option}: no node type given.")
    return list(dict.fromkeys(ntypes))


def node_tokens(graph: Graph, ntype: str, max_seq_length: Optional[int] = None) -> dict[str, np.ndarray]:
    """The memory-mapped token arrays of ``ntype``, cut to the first ``max_seq_length`` tokens if given.

    Cutting keeps the leading tokens (``[CLS]`` and the start of the text) and drops the rest,
    ``[SEP]`` included, as a tokenizer's truncation to a shorter length would, minus the
    ``[SEP]``; the same cut is used by embedding and fine-tuning.
    """
    check_text_node_types(graph.meta, [ntype])
    feats = graph.meta.node_type(ntype).features
    out = {k: graph.node_feature(ntype, k) for k in TOKEN_FEATURES if k in feats}
    n = graph.num_nodes(ntype)
    width = out["input_ids"].shape[1] if out["input_ids"].ndim == 2 else -1
    for k, arr in out.items():
        if arr.ndim != 2 or arr.shape != (n, width):
            raise GraphkitError(f"node type '{ntype}': token feature {k} has shape {tuple(arr.shape)}, expected "
                                f"({n}, {width}) like input_ids.", file=graph.root,
                                hint="Construct the graph again with one tokenize_hf transform per node type.")
    if max_seq_length is not None:
        if max_seq_length < 1:
            raise GraphkitError(f"--max-seq-length must be >= 1, got {max_seq_length}.")
        out = {k: v[:, :max_seq_length] for k, v in out.items()}
    return out
