"""A human-readable summary of a partitioning: sizes, edge cut, balance."""

from __future__ import annotations

from graphkit.partition.meta import PartitionSetMeta


def describe_partitions(meta: PartitionSetMeta) -> str:
    lines = [f"graph '{meta.graph_name}' in {meta.num_parts} partition(s) ({meta.method}, seed {meta.seed})"]
    for p in meta.parts:
        owned = ", ".join(f"{t} {n:,}" for t, n in p.num_owned_nodes.items())
        halo = sum(p.num_halo_nodes.values())
        edges = sum(n for k, n in p.num_owned_edges.items())
        lines.append(f"  {p.path}: owns {owned}; {halo:,} halo node(s); {edges:,} owned edge(s) over all types")
    lines.append(f"  edge cut: {meta.edge_cut:.4f}"
                 + "".join(f"\n    {k}: {v:.4f}" for k, v in meta.edge_cut_per_etype.items()))
    lines.append("  balance (max/mean per partition; 1.0 is perfect):")
    lines.extend(f"    {k}: {v:.3f}" for k, v in meta.balance.items())
    return "\n".join(lines)
