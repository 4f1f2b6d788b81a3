"""GNN encoders, one per file; importing this package registers them in ``ENCODERS``.

``register_encoder(name)`` adds a user-defined encoder, selected by ``model_encoder_type``
(see ``docs/custom-models.md``).
"""

from graphkit.models.encoders import gat, gcn, hgt, mlp, rgcn  # noqa: F401
from graphkit.models.encoders.base import ENCODERS, GNNEncoder, GraphSchema, register_encoder  # noqa: F401
