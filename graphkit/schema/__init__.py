"""Schemas: the construction config and the on-disk graph metadata, as typed data."""
