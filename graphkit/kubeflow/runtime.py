"""What a stage component does when it runs: build the ``graphkit`` command line, run it, report.

A component's body is one call, ``run_stage("<stage>", **locals())``. Here each stage
maps its parameters and artifacts to the same CLI arguments a user would type, runs
:func:`graphkit.cli.main.main` in the component's process, and then fills the output
artifacts the Kubeflow UI shows: ``Metrics`` (from the stage's own outputs, e.g. the
trained model's ``metrics.json``) and a Markdown or HTML run report.

Artifacts are duck-typed (``.path``, ``.uri``, ``.metadata``, ``.log_metric``), so this
module does not import kfp; it runs the same under Kubeflow and kfp's local runner.
Adding a stage: a ``_<stage>_argv`` function and an entry in :data:`STAGES`.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shlex
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Stage:
    argv: Callable[[dict], list[str]]  # parameters/artifacts -> graphkit CLI arguments
    outputs: Callable[[dict], str]  # after a successful run: log metrics, return the report's body (Markdown)


def _path_or_uri(base: str, name: str) -> str:
    """``name`` if absolute or a URI, else ``base/name`` (a config next to its tables)."""
    if name.startswith(("/", "s3://")) or not base:
        return name
    return f"{base.rstrip('/')}/{name}" if base.startswith("s3://") else os.path.join(base, name)


def _train_config(text_or_path: str, scratch: Optional[str] = None) -> str:
    """A training YAML given inline (several lines) is written to a file in ``scratch`` (the stage's
    temporary folder, removed after the stage); a path or URI is used as is."""
    if "\n" not in text_or_path:
        return text_or_path
    fd, path = tempfile.mkstemp(prefix="graphkit-train-", suffix=".yaml", dir=scratch)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text_or_path)
    return path


def _graph_summary(graph_dir: str, p: dict, metrics: Any) -> str:
    from graphkit.construct.summary import describe
    from graphkit.schema.graph_meta import read_graph_meta

    meta = read_graph_meta(graph_dir)
    nodes = sum(t.num_nodes for t in meta.node_types.values())
    edges = sum(e.num_edges for e in meta.edge_types)
    if metrics is not None:
        metrics.log_metric("num_nodes", nodes)
        metrics.log_metric("num_edges", edges)
    return f"```\n{describe(meta)}\n```\n"


# --- stages -------------------------------------------------------------------

def _transform_argv(p: dict) -> list[str]:
    argv = ["transform", "--conf-file", _path_or_uri(p["input_dir"], p["conf_file"]), "--input-dir", p["input_dir"],
            "--output-dir", p["transformed"].path, "--seed", str(p.get("seed", 0))]
    if p.get("trained_graph") is not None:
        argv += ["--reuse-transforms", p["trained_graph"].path]
    return argv


def _transform_outputs(p: dict) -> str:
    with open(os.path.join(p["transformed"].path, "transformed.json"), encoding="utf-8") as f:
        m = json.load(f)
    rows = [f"| node {t} | {e['num_rows']:,} | {', '.join(e['features']) or '-'} |" for t, e in m["nodes"].items()]
    rows += [f"| edge {','.join(e['etype'])} | {e['num_rows']:,} | {', '.join(e['features']) or '-'} |"
             for e in m["edges"]]
    reused = f"\nFitted transforms reused from `{m['reused_from']}`.\n" if m.get("reused_from") else ""
    return "| type | rows | features |\n|---|---|---|\n" + "\n".join(rows) + "\n" + reused


def _idmap_argv(p: dict) -> list[str]:
    argv = ["idmap", "--input-dir", p["transformed"].path, "--output-dir", p["graph"].path,
            "--graph-name", p.get("graph_name", "graph")]
    if p.get("add_reverse_edges"):
        argv.append("--add-reverse-edges")
    if p.get("skip_nonexist_edges"):
        argv.append("--skip-nonexist-edges")
    return argv


def _partition_argv(p: dict) -> list[str]:
    return ["partition", "--graph-dir", p["graph"].path, "--num-parts", str(p["num_parts"]),
            "--part-method", p.get("part_method", "metis"), "--output-dir", p["partitions"].path,
            "--seed", str(p.get("seed", 0))]


def _partition_outputs(p: dict) -> str:
    from graphkit.partition.meta import read_partition_meta
    from graphkit.partition.summary import describe_partitions

    meta = read_partition_meta(p["partitions"].path)
    p["metrics"].log_metric("edge_cut", float(meta.edge_cut))
    for k, v in meta.balance.items():
        p["metrics"].log_metric(f"balance_{k}", float(v))
    return f"```\n{describe_partitions(meta)}\n```\n"


def _train_argv(p: dict) -> list[str]:
    argv = ["train", "--part-config", p["graph"].path, "--cf", _train_config(p["train_config"], p.get("scratch")),
            "--save-model-path", p["model"].path]
    if p.get("seed", -1) >= 0:
        argv += ["--seed", str(p["seed"])]
    return argv + shlex.split(p.get("overrides", ""))


def _model_metrics_report(p: dict, artifact: str, file: str, framework: str = "graphkit") -> str:
    """Log the val/test metrics of a model folder's metrics file (``metrics.json`` shape) and tabulate them."""
    with open(os.path.join(p[artifact].path, file), encoding="utf-8") as f:
        m = json.load(f)
    for split in ("val", "test"):
        for k, v in (m.get(split) or {}).items():
            if isinstance(v, (int, float)):
                p["metrics"].log_metric(f"{split}_{k}", float(v))
    for k in ("best_epoch", "total_time_s"):
        if isinstance(m.get(k), (int, float)):
            p["metrics"].log_metric(k, float(m[k]))
    task, metric = m.get("task") or m.get("mode"), m.get("metric") or m.get("select_metric")
    p[artifact].metadata.update({"task": task, "metric": metric, "framework": framework})
    lines = [f"Task **{task}**, model selected on `{metric}` at epoch {m.get('best_epoch')}.", "",
             "| split | metric | value |", "|---|---|---|"]
    for split in ("val", "test"):
        lines += [f"| {split} | {k} | {v:.4f} |" for k, v in (m.get(split) or {}).items()
                  if isinstance(v, (int, float))]
    return "\n".join(lines) + "\n"


def _train_outputs(p: dict) -> str:
    return _model_metrics_report(p, "model", "metrics.json")


def _infer_argv(p: dict) -> list[str]:
    return ["infer", "--part-config", p["graph"].path, "--restore-model-path", p["model"].path,
            "--save-embed-path", p["embeddings"].path, "--save-prediction-path", p["predictions"].path,
            "--topk", str(p.get("topk", 10)), "--device", p.get("device", "cpu"), *_options(p)]


def _infer_outputs(p: dict) -> str:
    import pyarrow.parquet as pq

    rows = []
    for name in ("predictions", "embeddings"):
        root = p[name].path
        for d, _, files in sorted(os.walk(root)):
            parts = [f for f in files if f.endswith(".parquet")]
            if parts:
                n = sum(pq.ParquetFile(os.path.join(d, f)).metadata.num_rows for f in parts)
                rows.append(f"| {name} | `{os.path.relpath(d, root)}` | {n:,} |")
    return "| output | folder | rows |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def _options(p: dict) -> list[str]:
    return shlex.split(p.get("options", ""))


def _lm_finetune_argv(p: dict) -> list[str]:
    argv = ["lm-finetune", "--graph-dir", p["graph"].path, "--lm-model", p["lm_model"], "--output-dir",
            p["model"].path, "--mode", p.get("mode", "graph-aware"), "--epochs", str(p.get("epochs", 1)),
            "--seed", str(p.get("seed", 0))]
    return argv + _options(p)


def _lm_finetune_outputs(p: dict) -> str:
    body = _model_metrics_report(p, "model", "finetune_metrics.json", framework="huggingface")
    with open(os.path.join(p["model"].path, "finetune_metrics.json"), encoding="utf-8") as f:
        curve = json.load(f)["loss_per_step"]
    if not curve:
        return body
    p["metrics"].log_metric("first_loss", float(curve[0]))
    p["metrics"].log_metric("last_loss", float(curve[-1]))
    return body + f"\n{len(curve)} steps, training loss {curve[0]:.4f} -> {curve[-1]:.4f}.\n"


def _lm_embed_argv(p: dict) -> list[str]:
    tuned = p.get("finetuned_model")
    model = tuned.path if tuned is not None else p.get("lm_model", "")
    if not model:
        raise ValueError("lm_embed needs lm_model (a model folder or hub name) or a finetuned_model artifact")
    argv = ["lm-embed", "--graph-dir", p["graph"].path, "--lm-model", model, "--output-dir", p["embedded"].path,
            "--feature-name", p.get("feature_name", "lm_emb"), "--pooling", p.get("pooling", "mean")]
    if p.get("cache_dir"):
        argv += ["--cache-dir", p["cache_dir"]]
    return argv + _options(p)


def _lm_embed_outputs(p: dict) -> str:
    from graphkit.schema.graph_meta import read_graph_meta

    meta = read_graph_meta(p["embedded"].path)
    name = p.get("feature_name", "lm_emb")
    src = meta.construction.get("node_feature_sources", {}).get(name, {})
    rows = [f"| {t} | {m.features[name].shape[0]:,} | {m.features[name].shape[1]} |"
            for t, m in meta.node_types.items() if name in m.features]
    p["metrics"].log_metric("embedded_nodes", sum(m.features[name].shape[0] for m in meta.node_types.values()
                                                  if name in m.features))
    return (f"Feature `{name}` from `{src.get('lm_model')}` ({src.get('pooling')} pooling, model "
            f"`{str(src.get('model_fingerprint'))[:12]}`).\n\n| node type | nodes | dim |\n|---|---|---|\n"
            + "\n".join(rows) + "\n\n" + _graph_summary(p["embedded"].path, p, None))


def _distill_argv(p: dict) -> list[str]:
    argv = ["distill", "--part-config", p["graph"].path, "--restore-model-path", p["teacher"].path,
            "--save-model-path", p["student"].path, "--student", p.get("student_kind", "mlp")]
    if p.get("lm_model"):
        argv += ["--lm-model", p["lm_model"]]
    if p.get("num_epochs", -1) > 0:
        argv += ["--num-epochs", str(p["num_epochs"])]
    return argv + _options(p)


STAGES: dict[str, Stage] = {
    "transform": Stage(_transform_argv, _transform_outputs),
    "idmap": Stage(_idmap_argv, lambda p: _graph_summary(p["graph"].path, p, p.get("metrics"))),
    "partition": Stage(_partition_argv, _partition_outputs),
    "train": Stage(_train_argv, _train_outputs),
    "infer": Stage(_infer_argv, _infer_outputs),
    "lm-finetune": Stage(_lm_finetune_argv, _lm_finetune_outputs),
    "lm-embed": Stage(_lm_embed_argv, _lm_embed_outputs),
    "distill": Stage(_distill_argv, lambda p: _model_metrics_report(p, "student", "distill_metrics.json")),
}


# --- running ------------------------------------------------------------------

def stage_argv(stage: str, params: dict) -> list[str]:
    """The ``graphkit`` arguments a stage component runs (for tests and the run report)."""
    return STAGES[stage].argv(params)


def run_stage(stage: str, **params: Any) -> None:
    """Run one stage inside a component: the CLI, then metrics and the report.

    Raises ``RuntimeError`` with the CLI's exit code if the stage fails (its message is
    already on stderr), so the pipeline step fails.
    """
    from graphkit.cli.main import main

    with tempfile.TemporaryDirectory(prefix="graphkit-stage-") as scratch:
        argv = stage_argv(stage, {**params, "scratch": scratch})
        print("graphkit " + " ".join(shlex.quote(a) for a in argv), flush=True)
        t0 = time.perf_counter()
        code = main(["--log-level", params.get("log_level", "info"), *argv])
        seconds = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"graphkit {stage} failed with exit code {code}; its error is printed above.")
    body = STAGES[stage].outputs(params)
    if params.get("metrics") is not None:
        params["metrics"].log_metric("stage_seconds", round(seconds, 3))
    write_report(params.get("report"), stage, argv, body, seconds, params.get("model"))


def write_report(report: Optional[Any], stage: str, argv: list[str], body: str, seconds: float,
                 model: Optional[Any] = None) -> None:
    """The run report: Markdown, or HTML (with the training curves) when the artifact's path ends in .html."""
    if report is None:
        return
    from graphkit import __version__

    cmd = "graphkit " + " ".join(shlex.quote(a) for a in argv)
    md = f"# graphkit {stage}\n\n{body}\n`{cmd}`\n\n{seconds:.1f} s, graphkit {__version__}\n"
    if getattr(report, "schema_title", "") != "system.HTML":
        with open(report.path, "w", encoding="utf-8") as f:
            f.write(md)
        return
    img = ""
    curves = os.path.join(model.path, "training_curves.png") if model is not None else ""
    if curves and os.path.exists(curves):
        with open(curves, "rb") as f:
            img = f'<img alt="training curves" src="data:image/png;base64,{base64.b64encode(f.read()).decode()}">'
    with open(report.path, "w", encoding="utf-8") as f:
        f.write(f"<!doctype html><html><head><meta charset='utf-8'><title>graphkit {stage}</title></head><body>"
                f"<pre>{html.escape(md)}</pre>{img}</body></html>")
