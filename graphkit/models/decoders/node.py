"""Node-task decoders: logits (classification) or values (regression) per node.

A task's ``decoder_type`` picks one from ``NODE_DECODERS`` (default ``linear``);
``register_node_decoder(name)`` adds a user-defined one (``docs/custom-models.md``).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from graphkit.errors import ConfigError, did_you_mean


class NodeDecoder(nn.Module):
    r"""A linear layer, or a two-layer MLP, on top of node representations
    (GraphStorm's ``EntityClassifier`` / ``EntityRegression``).

    .. math::
        \mathbf{y}_i = \mathbf{W} \mathbf{h}_i + \mathbf{b}
        \quad\text{or}\quad
        \mathbf{y}_i = \mathbf{W}_2\, \mathrm{ReLU}(\mathbf{W}_1 \mathbf{h}_i + \mathbf{b}_1) + \mathbf{b}_2

    Dropout is applied to the input of every linear layer.

    Args:
        in_dim (int): Width of the node representations.
        out_dim (int): Number of classes (logits), or of regression targets.
        hidden (int, optional): Width of the hidden layer; ``0`` gives a single
            linear layer. (default: :obj:`0`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.0`)

    Shapes:
        - **input:** node representations :math:`(N, F_{in})`
        - **output:** logits or values :math:`(N, F_{out})`
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden < 0:
            raise ValueError(f"hidden must be >= 0, got {hidden}")
        self.in_dim, self.out_dim, self.hidden = in_dim, out_dim, hidden
        self.dropout = nn.Dropout(dropout)
        self.lin1 = nn.Linear(in_dim, hidden) if hidden > 0 else None
        self.lin2 = nn.Linear(hidden or in_dim, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.lin1 is not None:
            self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.lin1 is not None:
            h = torch.relu(self.lin1(self.dropout(h)))
        return self.lin2(self.dropout(h))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_dim}, {self.out_dim}, hidden={self.hidden})"


NodeDecoderFactory = Callable[[int, int], nn.Module]
NODE_DECODERS: dict[str, NodeDecoderFactory] = {}


def register_node_decoder(name: str) -> Callable[[NodeDecoderFactory], NodeDecoderFactory]:
    """Register ``factory(in_dim, out_dim) -> nn.Module`` (a class works) as node ``decoder_type: <name>``.

    The module maps node representations ``[N, in_dim]`` to ``[N, out_dim]``:
    logits for classification (``out_dim`` classes or labels), values for
    regression (``out_dim == 1``).
    """

    def deco(factory: NodeDecoderFactory) -> NodeDecoderFactory:
        NODE_DECODERS[name] = factory
        return factory

    return deco


@register_node_decoder("linear")
def linear_node_decoder(in_dim: int, out_dim: int) -> nn.Module:
    """GraphStorm's ``EntityClassifier`` / ``EntityRegression``: one linear layer (the default)."""
    return NodeDecoder(in_dim, out_dim)


@register_node_decoder("mlp")
def mlp_node_decoder(in_dim: int, out_dim: int) -> nn.Module:
    """Linear -> ReLU -> linear, the hidden layer as wide as the input."""
    return NodeDecoder(in_dim, out_dim, hidden=in_dim)


@register_node_decoder("none")
def _none(in_dim: int, out_dim: int) -> nn.Module:
    """No decoder: the encoder's last layer emits the ``out_dim`` outputs itself (as in the GCN/GAT papers)."""
    if in_dim != out_dim:
        raise ConfigError(f"decoder_type 'none' needs the encoder to output {out_dim} values, not {in_dim}.",
                          key="decoder_type")
    return nn.Identity()


def make_node_decoder(name: Optional[str], in_dim: int, out_dim: int) -> nn.Module:
    """The node decoder a task's ``decoder_type`` names; :obj:`None` is ``linear``."""
    name = name or "linear"
    factory = NODE_DECODERS.get(name)
    if factory is None:
        raise ConfigError(f"unknown node decoder '{name}'.", key="decoder_type",
                          hint=f"{did_you_mean(name, NODE_DECODERS)} A custom decoder is registered when its "
                               "module is imported (docs/custom-models.md).")
    return factory(in_dim, out_dim)
