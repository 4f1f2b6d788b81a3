"""Each component's body runs the same `graphkit` command line a user would type."""

import os
from dataclasses import dataclass, field

import pytest

from graphkit.kubeflow.runtime import stage_argv


@dataclass
class Art:  # what kfp passes a component: an artifact with a local path
    path: str
    uri: str = ""
    metadata: dict = field(default_factory=dict)


def test_transform_resolves_the_config_next_to_the_tables():
    argv = stage_argv("transform", {"input_dir": "s3://b/tables", "conf_file": "gconstruct.json", "seed": 3,
                                    "transformed": Art("/out/t")})
    assert argv == ["transform", "--conf-file", "s3://b/tables/gconstruct.json", "--input-dir", "s3://b/tables",
                    "--output-dir", "/out/t", "--seed", "3"]
    argv = stage_argv("transform", {"input_dir": "/mnt/graphkit/new", "conf_file": "/cfg/g.json",
                                    "trained_graph": Art("/in/graph"), "transformed": Art("/out/t")})
    assert argv[:2] == ["transform", "--conf-file"] and argv[2] == "/cfg/g.json"
    assert argv[-2:] == ["--reuse-transforms", "/in/graph"]


def test_idmap_partition_train_infer_arguments():
    assert stage_argv("idmap", {"transformed": Art("/t"), "graph": Art("/g"), "graph_name": "shop",
                                "add_reverse_edges": True, "skip_nonexist_edges": False}) == [
        "idmap", "--input-dir", "/t", "--output-dir", "/g", "--graph-name", "shop", "--add-reverse-edges"]
    assert stage_argv("partition", {"graph": Art("/g"), "partitions": Art("/p"), "num_parts": 4,
                                    "part_method": "random", "seed": 1}) == [
        "partition", "--graph-dir", "/g", "--num-parts", "4", "--part-method", "random", "--output-dir", "/p",
        "--seed", "1"]
    assert stage_argv("train", {"graph": Art("/g"), "train_config": "s3://b/t.yaml", "model": Art("/m"),
                                "overrides": "--num-epochs 2 --lr 0.01", "seed": -1}) == [
        "train", "--part-config", "/g", "--cf", "s3://b/t.yaml", "--save-model-path", "/m", "--num-epochs", "2",
        "--lr", "0.01"]
    assert stage_argv("infer", {"graph": Art("/g"), "model": Art("/m"), "predictions": Art("/p"),
                                "embeddings": Art("/e"), "topk": 5}) == [
        "infer", "--part-config", "/g", "--restore-model-path", "/m", "--save-embed-path", "/e",
        "--save-prediction-path", "/p", "--topk", "5", "--device", "cpu"]
    assert stage_argv("infer", {"graph": Art("/g"), "model": Art("/m"), "predictions": Art("/p"),
                                "embeddings": Art("/e"), "device": "auto", "options": "--student /s"})[-4:] == [
        "--device", "auto", "--student", "/s"]


def test_an_inline_training_yaml_is_written_to_a_file(tmp_path):
    # run_stage passes its temporary folder as "scratch" and removes it after the stage
    argv = stage_argv("train", {"graph": Art("/g"), "train_config": "version: 1.0\ngsf: {}\n", "model": Art("/m"),
                                "seed": 0, "scratch": str(tmp_path)})
    path = argv[argv.index("--cf") + 1]
    assert os.path.dirname(path) == str(tmp_path)
    with open(path) as f:
        assert f.read() == "version: 1.0\ngsf: {}\n"
    assert argv[-2:] == ["--seed", "0"]


def test_lm_stage_arguments():
    assert stage_argv("lm-finetune", {"graph": Art("/g"), "lm_model": "/mnt/graphkit/minilm", "model": Art("/m"),
                                      "mode": "supervised", "epochs": 2, "seed": 1,
                                      "options": "--ntype paper --label-field label"}) == [
        "lm-finetune", "--graph-dir", "/g", "--lm-model", "/mnt/graphkit/minilm", "--output-dir", "/m", "--mode",
        "supervised", "--epochs", "2", "--seed", "1", "--ntype", "paper", "--label-field", "label"]
    base = {"graph": Art("/g"), "embedded": Art("/e"), "lm_model": "/lm", "feature_name": "lm_emb",
            "pooling": "mean", "cache_dir": "", "options": "--batch-size 128"}
    assert stage_argv("lm-embed", base) == [
        "lm-embed", "--graph-dir", "/g", "--lm-model", "/lm", "--output-dir", "/e", "--feature-name", "lm_emb",
        "--pooling", "mean", "--batch-size", "128"]
    # a fine-tuned model artifact wins over lm_model; a cache folder is passed on
    argv = stage_argv("lm-embed", {**base, "finetuned_model": Art("/ft"), "cache_dir": "/mnt/graphkit/cache"})
    assert argv[argv.index("--lm-model") + 1] == "/ft" and argv[-4:-2] == ["--cache-dir", "/mnt/graphkit/cache"]
    with pytest.raises(ValueError, match="lm_model"):
        stage_argv("lm-embed", {**base, "lm_model": ""})


def test_distill_arguments():
    p = {"graph": Art("/g"), "teacher": Art("/t"), "student": Art("/s"), "student_kind": "mlp", "lm_model": "",
         "num_epochs": -1, "options": ""}
    assert stage_argv("distill", p) == ["distill", "--part-config", "/g", "--restore-model-path", "/t",
                                        "--save-model-path", "/s", "--student", "mlp"]
    assert stage_argv("distill", {**p, "student_kind": "lm", "lm_model": "/lm", "num_epochs": 3,
                                  "options": "--lr 1e-4"})[-8:] == [
        "--student", "lm", "--lm-model", "/lm", "--num-epochs", "3", "--lr", "1e-4"]
