"""A human-readable summary of a constructed graph."""

from __future__ import annotations

from graphkit.schema.graph_meta import GraphMeta


def describe(meta: GraphMeta) -> str:
    lines = [f"graph '{meta.graph_name}' (graphkit-graph v{meta.version})"]
    n_nodes = sum(t.num_nodes for t in meta.node_types.values())
    n_edges = sum(e.num_edges for e in meta.edge_types)
    lines.append(f"  {n_nodes:,} nodes in {len(meta.node_types)} type(s), "
                 f"{n_edges:,} edges in {len(meta.edge_types)} type(s)")
    for name, t in meta.node_types.items():
        lines.append(f"  node {name}: {t.num_nodes:,} nodes (IDs: {t.id_dtype})")
        lines.extend(_details(t.features, t.labels))
    for e in meta.edge_types:
        rev = f" (reverse of {','.join(e.reverse_of)})" if e.reverse_of else ""
        lines.append(f"  edge {','.join(e.etype)}: {e.num_edges:,} edges{rev}")
        if not e.reverse_of:
            lines.extend(_details(e.features, e.labels))
    skipped = meta.construction.get("skipped_edges") or {}
    for et, n in skipped.items():
        lines.append(f"  skipped {n:,} edge(s) of {et} with unknown endpoints")
    return "\n".join(lines)


def _details(features: dict, labels: dict) -> list[str]:
    out = []
    for fname, a in features.items():
        out.append(f"    feature {fname}: {a.dtype} {tuple(a.shape[1:]) if len(a.shape) > 1 else '(scalar)'}")
    for lname, lab in labels.items():
        extra = f", {lab.num_classes} classes" if lab.num_classes is not None else ""
        c = lab.split_counts
        out.append(f"    label {lname}: {lab.task_type}{extra}; train/val/test = "
                   f"{c.get('train', 0):,}/{c.get('val', 0):,}/{c.get('test', 0):,}")
        if lab.stats:
            out.append(f"      {lab.stats['stats_type']}: {lab.stats['info']}")
    return out
