"""Task decoders: node, edge (classification / regression) and link-prediction scorers."""

from graphkit.models.decoders.edge import (  # noqa: F401
    EDGE_DECODERS,
    BilinearEdgeDecoder,
    MLPEdgeDecoder,
    MLPEFeatEdgeDecoder,
    make_edge_decoder,
)
from graphkit.models.decoders.link import (  # noqa: F401
    LINK_SCORERS,
    DistMult,
    DotProduct,
    LinkScorer,
    RotatE,
    TransE,
    broadcast_pair,
    l2_normalize,
    make_link_scorer,
)
from graphkit.models.decoders.node import (  # noqa: F401
    NODE_DECODERS,
    NodeDecoder,
    make_node_decoder,
    register_node_decoder,
)
