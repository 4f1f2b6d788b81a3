"""GNN encoders, one per file; importing this package registers them in ``ENCODERS``."""

from graphkit.models.encoders import gat, gcn, hgt, mlp, rgcn  # noqa: F401
from graphkit.models.encoders.base import ENCODERS, GNNEncoder, GraphSchema  # noqa: F401
