"""Apply a trained graph's fitted transforms to new tables (``graphkit transform --reuse-transforms GRAPH``).

For inference on new data the features must be computed exactly as for training:
the same vocabularies, normalisation ranges, imputer values. A graph directory's
``transforms.json`` keeps every fitted feature *record*
(:func:`graphkit.construct.features.process_feature` re-applies one without fitting),
its ``graph.json`` the label metadata (class names, mask names) that a model's decoders
and prediction files rely on, and its ``id_maps/`` the integer ID of every node.

What is reused:

- every feature: the record of the same node/edge type and feature name (an error if
  the new config asks for a feature the graph does not have);
- every label: its metadata only. New tables need no label column; the new graph gets
  the training graph's classes, unknown label values (-1 / NaN) and empty val/test masks.
  The first mask slot is ``inference_mask_<label>``, covering every row: graphkit's
  inference sets up the model's tasks, which need a non-empty first mask. Such a graph is
  for inference only; training on it would read unknown labels;
- the ID maps of node types that have no node table (they appear only as edge
  endpoints): the new graph keeps the training graph's IDs for them, so learnable
  embeddings of those nodes still apply. Endpoints that are not in the saved map are
  errors (or dropped with ``--skip-nonexist-edges``). Node types with a node table get
  their IDs from the new table's rows, as in a fresh construction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from graphkit.construct.labels import LabelResult
from graphkit.errors import ConfigError
from graphkit.schema.gconstruct import FeatureSpec, LabelSpec
from graphkit.schema.graph_meta import LabelMeta

INFERENCE_MASK = "inference_mask"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


@dataclass
class SavedTransforms:
    """What a graph directory keeps of its construction, for reuse on new tables."""

    graph_dir: str
    records: dict  # {"nodes": {ntype: [record]}, "edges": {"src,rel,dst": [record]}}
    labels: dict[str, dict[str, LabelMeta]]  # type key ("user" or "user,rates,item") -> label name -> meta
    id_maps: dict[str, pa.Array]  # node types without a node table -> raw IDs (row i is node i)

    def feature_record(self, type_key: str, spec: FeatureSpec, kind: str) -> dict:
        recs = self.records.get("nodes" if kind == "node" else "edges", {}).get(type_key, [])
        for rec in recs:
            if rec.get("feature_name") == spec.name:
                if rec["transform"]["name"] != spec.transform.name:
                    raise ConfigError(
                        f"feature '{spec.name}' of {type_key} uses transform '{spec.transform.name}' but the "
                        f"graph fitted '{rec['transform']['name']}'.", key=spec.key,
                        file=self.graph_dir, hint="Use the training config's feature definitions.")
                return rec
        have = ", ".join(r.get("feature_name", "?") for r in recs) or "none"
        raise ConfigError(f"the graph has no fitted feature '{spec.name}' for {type_key} (it has: {have}).",
                          key=spec.key, file=self.graph_dir,
                          hint="--reuse-transforms applies the training graph's transforms; "
                               "configure the same features as for training.")

    def label(self, type_key: str, spec: LabelSpec, num_rows: int) -> LabelResult:
        """The saved label's metadata over ``num_rows`` unlabelled rows, with empty masks."""
        meta = self.labels.get(type_key, {}).get(spec.name)
        if meta is None:
            raise ConfigError(f"the graph has no label '{spec.name}' for {type_key}.", key=spec.key,
                              file=self.graph_dir)
        if meta.task_type == "classification":
            values = np.full(num_rows, -1, dtype=np.int64)
        elif meta.task_type == "regression":
            values = np.full(num_rows, np.nan, dtype=np.float32)
        else:
            values = None
        # graphkit's inference sets up the model's tasks, which need a non-empty first mask: the first slot is
        # an all-rows INFERENCE_MASK (not a training split: the label values are unknown), val/test are empty.
        mask_names = [f"{INFERENCE_MASK}_{_slug(spec.name)}", *meta.mask_names[1:]]
        masks = {mask_names[0]: np.ones(num_rows, dtype=np.int8),
                 **{m: np.zeros(num_rows, dtype=np.int8) for m in mask_names[1:]}}
        return LabelResult(name=meta.name, task_type=meta.task_type, values=values, masks=masks,
                           mask_names=mask_names, num_classes=meta.num_classes, classes=meta.classes,
                           split_counts={"train": num_rows, "val": 0, "test": 0}, stats=meta.stats)


def load_saved_transforms(graph_dir: str) -> SavedTransforms:
    """Read the fitted records, label metadata and ID maps of a graph directory."""
    from graphkit.schema.gconstruct import etype_str
    from graphkit.storage.graph import Graph

    graph = Graph(graph_dir)
    saved = graph.transforms
    labels: dict[str, dict[str, LabelMeta]] = {}
    for ntype, nm in graph.meta.node_types.items():
        labels[ntype] = dict(nm.labels)
    for em in graph.meta.edge_types:
        labels.setdefault(etype_str(em.etype), {}).update(em.labels)
    table_types = {n.get("node_type") for n in saved.get("config", {}).get("nodes", [])}
    id_maps = {t: graph.id_map(t) for t in graph.node_types if t not in table_types}
    return SavedTransforms(graph_dir=os.path.abspath(graph_dir), records=saved.get("features", {}),
                           labels=labels, id_maps=id_maps)
