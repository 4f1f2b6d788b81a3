"""The training pipeline with every LM switch on, through kfp's local runner: transform -> idmap ->
lm-finetune -> lm-embed (the fine-tuned model) -> train on the embeddings -> distill -> infer."""

import json
import os

import pytest
from lm_fixtures import write_text_tables

TRAIN_YAML = """\
version: 1.0
gsf:
  basic:
    node_feat_name: ["paper:lm_emb", "author:age"]
  gnn: {model_encoder_type: rgcn, fanout: "5", num_layers: 1, hidden_size: 16, use_mini_batch_infer: false}
  hyperparam: {lr: 0.01, num_epochs: 2, batch_size: 16, eval_batch_size: 64}
  rgcn: {use_self_loop: true}
  node_classification: {target_ntype: paper, label_field: label, eval_metric: [accuracy]}
"""


def test_training_pipeline_with_lm_finetune_embed_and_distill(tmp_path, tiny_bert):
    pytest.importorskip("kfp")
    import pyarrow.parquet as pq

    from graphkit.kubeflow.local import run_local

    tables = str(tmp_path / "tables")
    write_text_tables(tables, tiny_bert)
    (tmp_path / "train.yaml").write_text(TRAIN_YAML)
    res = run_local("train", {
        "input_dir": tables, "train_config": str(tmp_path / "train.yaml"), "graph_name": "papers",
        "lm_finetune": True, "lm_embed": True, "distill": True, "lm_model": tiny_bert,
        "lm_finetune_options": "--batch-size 8 --device cpu", "lm_embed_options": "--device cpu --no-cache",
        "distill_options": "--num-epochs 2"}, str(tmp_path / "root"))
    (run,) = os.listdir(res.pipeline_root)
    run = os.path.join(res.pipeline_root, run)
    # the branch with both LM switches on ran, and only it
    assert sorted(os.listdir(run)) == ["distill-2", "idmap", "infer-2", "lm-embed", "lm-finetune-2", "train-2",
                                       "transform"]
    with open(os.path.join(run, "lm-embed", "embedded", "graph.json")) as f:
        src = json.load(f)["construction"]["node_feature_sources"]["lm_emb"]
    assert src["lm_model"] == os.path.join(run, "lm-finetune-2", "model")  # embedded by the fine-tuned model
    with open(os.path.join(run, "train-2", "model", "metrics.json")) as f:
        assert "accuracy" in json.load(f)["test"]
    assert os.path.exists(os.path.join(run, "distill-2", "student", "student.json"))
    assert res.predictions == os.path.join(run, "infer-2", "predictions")
    pred = pq.read_table(os.path.join(res.predictions, "paper", "part-00000.parquet"))
    assert pred.num_rows == 24 and pred.column("id")[0].as_py() == "p0"
