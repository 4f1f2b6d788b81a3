"""Partitioning: split a graph directory into per-partition graph directories.

``metis`` / ``random`` assign every node a partition, ``metrics`` measures edge
cut and balance, ``layout`` decides which owned and halo nodes and edges each
partition holds, ``writer`` writes them, and ``stage.partition_graph`` runs it
all atomically. The on-disk layout is in ``docs/partition-format.md``.
(Nothing is imported here, so the CLI stays quick to start.)
"""
