"""Inference: layer-wise embeddings, predictions and ranked links, written against raw IDs."""
