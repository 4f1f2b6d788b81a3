"""Models: input layers, GNN encoders over blocks, task decoders."""
