"""Student networks: node inputs -> an embedding in the teacher's space.

- :class:`MLPStudent`: standardised input features -> ``num_layers`` linear
  layers (ReLU, dropout between) -> the teacher's embedding width.
- :class:`LMStudent`: a Hugging Face encoder on the node's tokens, pooled
  (``cls``, ``mean`` or ``pooler``) and linearly projected to the teacher's
  width (GraphStorm's ``GSDistilledModel``: DistilBERT + a projection).

:class:`Student` holds one network per node type plus the decoder that maps
embeddings to task outputs (the teacher's, frozen, for a distilled student).
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Optional

import torch
from torch import nn

from graphkit.distill.spec import StudentSpec, TypeSpec, read_student
from graphkit.lm.embed import POOLINGS, pool
from graphkit.models.decoders import make_node_decoder

Inputs = torch.Tensor | dict[str, torch.Tensor]  # mlp: features [B, F]; lm: token arrays [B, L]


class MLPStudent(nn.Module):
    r"""An MLP from a node's own features to the teacher's embedding.

    .. math::
        \mathbf{h}_i = \mathbf{W}_L\,\sigma(\cdots\sigma(\mathbf{W}_1 \tfrac{\mathbf{x}_i - \mu}{\sigma_x}))

    Args:
        in_dim (int): Input feature width.
        out_dim (int): The teacher's embedding width.
        hidden (int): Width of the hidden layers.
        num_layers (int): Linear layers (``1``: a linear map). (default: :obj:`2`)
        dropout (float): Dropout before every hidden layer's output. (default: :obj:`0.0`)

    The feature mean and standard deviation are buffers (saved with the
    weights), set once from the node type's features by :meth:`fit_scaler`.

    Shapes:
        - **input:** :math:`(N, F_{in})` — **output:** :math:`(N, F_{out})`
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))

    @torch.no_grad()
    def fit_scaler(self, batches: Iterable[torch.Tensor]) -> None:
        """Per-feature mean and standard deviation over the rows of ``batches`` (streamed, in float64)."""
        n, s, sq = 0, torch.zeros_like(self.mean, dtype=torch.float64), torch.zeros_like(self.mean, dtype=torch.float64)
        for x in batches:
            x = x.double()
            n, s, sq = n + x.shape[0], s + x.sum(0), sq + (x * x).sum(0)
        if n == 0:
            return
        mean = s / n
        self.mean.copy_(mean)
        self.std.copy_((sq / n - mean * mean).clamp(min=0).sqrt().clamp(min=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x - self.mean) / self.std
        for i, lin in enumerate(self.layers):
            h = lin(h)
            if i < len(self.layers) - 1:
                h = self.dropout(torch.relu(h))
        return h


class LMStudent(nn.Module):
    """A language model on the node's tokens, pooled and projected to the teacher's embedding width.

    Args:
        lm: a Hugging Face encoder (``AutoModel``).
        out_dim (int): The teacher's embedding width.
        pooling (str): ``cls``, ``mean`` or ``pooler``. (default: :obj:`"cls"`)

    Shapes:
        - **input:** ``{"input_ids", "attention_mask"[, "token_type_ids"]}``, each :math:`(N, L)`
        - **output:** :math:`(N, F_{out})`
    """

    def __init__(self, lm: nn.Module, out_dim: int, pooling: str = "cls") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.lm, self.pooling = lm, pooling
        self.proj = nn.Linear(int(lm.config.hidden_size), out_dim)

    def forward(self, tokens: Mapping[str, torch.Tensor]) -> torch.Tensor:
        mask = tokens["attention_mask"].long()
        kwargs = {"input_ids": tokens["input_ids"].long(), "attention_mask": mask}
        if "token_type_ids" in tokens:
            kwargs["token_type_ids"] = tokens["token_type_ids"].long()
        return self.proj(pool(self.lm(**kwargs), mask, self.pooling).float())


def lm_from_config(config: dict) -> nn.Module:
    """An untrained Hugging Face encoder from a saved ``config.to_dict()`` (no download, no model folder)."""
    from graphkit.lm.loading import _require_transformers

    transformers = _require_transformers()
    cfg = dict(config)
    model_type = cfg.pop("model_type")
    return transformers.AutoModel.from_config(transformers.AutoConfig.for_model(model_type, **cfg))


def build_network(kind: str, ts: TypeSpec, emb_dim: int, lm: Optional[nn.Module] = None) -> nn.Module:
    """The student network of one node type (``lm``: the encoder to start from, else one from ``ts.lm_config``)."""
    if kind == "mlp":
        return MLPStudent(ts.in_dim, emb_dim, ts.hidden, ts.num_layers, ts.dropout)
    assert ts.lm_config is not None or lm is not None
    return LMStudent(lm if lm is not None else lm_from_config(ts.lm_config or {}), emb_dim, ts.pooling)


class Student(nn.Module):
    """One network per node type (in ``spec.types`` order) and the decoder of the node task, if any."""

    def __init__(self, spec: StudentSpec, nets: Mapping[str, nn.Module], decoder: Optional[nn.Module]) -> None:
        super().__init__()
        self.spec = spec
        self.ntypes = list(spec.types)
        self.nets = nn.ModuleList(nets[t] for t in self.ntypes)  # ModuleDict keys cannot hold every type name
        self.decoder = decoder

    def net(self, ntype: str) -> nn.Module:
        return self.nets[self.ntypes.index(ntype)]

    def embed(self, ntype: str, inputs: Inputs) -> torch.Tensor:
        return self.net(ntype)(inputs)

    def state(self) -> tuple[dict[str, dict], dict]:
        """``({ntype: network state_dict}, decoder state_dict)`` for :func:`~graphkit.distill.spec.write_student`."""
        nets = {t: {k: v.detach().cpu() for k, v in self.net(t).state_dict().items()} for t in self.ntypes}
        dec = {k: v.detach().cpu() for k, v in self.decoder.state_dict().items()} if self.decoder is not None else {}
        return nets, dec


def make_decoder(spec: StudentSpec) -> Optional[nn.Module]:
    head = spec.head
    return make_node_decoder(head.decoder_type, spec.emb_dim, head.num_classes) if head is not None else None


def load_student(path: str) -> Student:
    """Re-create a trained student from its folder (eval mode, on the CPU)."""
    spec, state = read_student(path)
    nets = {}
    for t, ts in spec.types.items():
        net = build_network(spec.kind, ts, spec.emb_dim)
        net.load_state_dict(state["students"][t])
        nets[t] = net
    decoder = make_decoder(spec)
    if decoder is not None:
        decoder.load_state_dict(state["decoder"])
    return Student(spec, nets, decoder).eval()


def to_device(x: Inputs, device: Any) -> Inputs:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    return {k: v.to(device) for k, v in x.items()}
