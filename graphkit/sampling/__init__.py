"""Mini-batch sampling: neighbour sampling into per-layer blocks, edge seeds, negatives, GraphSAINT."""
