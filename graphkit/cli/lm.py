"""``graphkit lm-embed`` and ``graphkit lm-finetune``: language models on a graph's text (docs/lm.md).

torch and transformers are imported only when one of them runs.
"""

from __future__ import annotations

import argparse
import os
from typing import Optional

from graphkit.errors import GraphkitError

POOLINGS = ("pooler", "cls", "mean")  # graphkit.lm.embed.POOLINGS, without importing torch here
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def _csv(text: Optional[str], option: str = "--ntypes") -> Optional[list[str]]:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise GraphkitError(f"{option}: no name given.")
    return items


def _runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda or cuda:N (default: auto).")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto: bf16 autocast on GPUs that have it, else fp16; fp32 on the CPU. bf16 on the CPU runs "
                        "where the CPU has native bfloat16 (AVX512-BF16 or AMX; about 1.7-2x faster), else fp32 "
                        "(default: auto).")
    p.add_argument("--max-seq-length", type=int, default=None, metavar="N",
                   help="Use only the first N stored tokens of every text (default: all of them).")
    p.add_argument("--pooling", default="mean", choices=POOLINGS,
                   help="One vector per text: mean of the token vectors, the [CLS] vector, or the model's pooler "
                        "(default: mean).")


def add_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("lm-embed", help="Embed node text with a language model into a node feature.",
                       description="Run a Hugging Face encoder over the token features (tokenize_hf) of node types "
                                   "and add the pooled vectors as a float node feature, in place (atomically) or in "
                                   "a new graph directory. Chunks are cached by model and text: reruns and "
                                   "restarted runs skip finished work.")
    e.add_argument("--graph-dir", required=True, help="Graph directory written by `graphkit construct`.")
    e.add_argument("--lm-model", required=True, help="A local Hugging Face model folder, or a hub name where the hub "
                                                     "is reachable (e.g. a `graphkit lm-finetune` output).")
    e.add_argument("--ntypes", default=None, help="Comma-separated node types (default: every type with tokens).")
    e.add_argument("--feature-name", default="lm_emb", help="Name of the new feature (default: lm_emb).")
    e.add_argument("--batch-size", type=int, default=64, help="Texts per forward pass (default: 64).")
    e.add_argument("--chunk-size", type=int, default=1024,
                   help="Texts per cached chunk: the unit of resumption (default: 1024).")
    e.add_argument("--output-dir", default=None,
                   help="Write a new graph directory (source files hard-linked) instead of adding the feature in "
                        "place.")
    cache = e.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", default=None,
                       help="Folder of cached chunks (default: $GRAPHKIT_CACHE_DIR/lm-embed or "
                            "~/.cache/graphkit/lm-embed).")
    cache.add_argument("--no-cache", action="store_true", help="Neither read nor write cached chunks.")
    e.add_argument("--out-dtype", default="float32", choices=("float32", "float16"),
                   help="dtype of the feature (default: float32).")
    e.add_argument("--overwrite", action="store_true", help="Replace the feature if the node type has it already.")
    _runtime_args(e)
    e.set_defaults(run=run_embed)

    f = sub.add_parser("lm-finetune", help="Fine-tune a language model on the graph's text.",
                       description="graph-aware: contrastive link prediction on the text of connected nodes "
                                   "(in-batch negatives; validation/test link-prediction edges left out). "
                                   "supervised: node classification on the text with a linear head, keeping the "
                                   "epoch with the best validation accuracy. Writes a Hugging Face model folder "
                                   "and finetune_metrics.json.")
    f.add_argument("--graph-dir", required=True, help="Graph directory written by `graphkit construct`.")
    f.add_argument("--lm-model", required=True, help="The model to start from: a local folder or a hub name.")
    f.add_argument("--output-dir", required=True, help="Where to write the fine-tuned model folder (atomically).")
    f.add_argument("--mode", default="graph-aware", choices=("graph-aware", "supervised"),
                   help="Objective (default: graph-aware).")
    f.add_argument("--etype", action="append", default=None, metavar="SRC,REL,DST",
                   help="graph-aware: an edge type to train on, repeatable (default: every forward edge type with "
                        "text on both ends).")
    f.add_argument("--ntype", default=None, help="supervised: the node type to classify.")
    f.add_argument("--label-field", default=None, help="supervised: the classification label (its label_col).")
    f.add_argument("--epochs", type=int, default=1, help="Passes over the training edges or nodes (default: 1).")
    f.add_argument("--batch-size", type=int, default=32, help="Edges or nodes per step (default: 32).")
    f.add_argument("--lr", type=float, default=2e-5, help="AdamW learning rate (default: 2e-5).")
    f.add_argument("--head-lr", type=float, default=None,
                   help="supervised: learning rate of the new classifier head (default: --lr); a randomly "
                        "initialised head often wants a larger one, e.g. 1e-3.")
    f.add_argument("--pseudo-labels", default=None, metavar="PREDICTION_DIR",
                   help="supervised: also train on the nodes without a gold training label, against a GNN's class "
                        "probabilities: the --save-prediction-path of `graphkit infer` (GLEM's LM step).")
    f.add_argument("--pseudo-weight", type=float, default=1.0,
                   help="supervised: loss weight of a pseudo-labelled node relative to a gold one (default: 1).")
    f.add_argument("--pseudo-min-confidence", type=float, default=0.0,
                   help="supervised: keep pseudo-labels whose top class probability is at least this (default: 0).")
    f.add_argument("--lora-rank", type=int, default=0,
                   help="Train LoRA adapters of this rank instead of every weight (peft); they are merged into the "
                        "saved model, which loads like any other (default: 0, full fine-tuning).")
    f.add_argument("--lora-alpha", type=float, default=None, help="LoRA scale numerator (default: --lora-rank).")
    f.add_argument("--lora-dropout", type=float, default=0.0, help="Dropout on the LoRA input (default: 0).")
    f.add_argument("--lora-targets", default=None, metavar="NAME,NAME",
                   help="Linear layers to adapt, by module name (default: peft's for the model type; BERT: "
                        "query,value).")
    f.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default: 0.01).")
    f.add_argument("--warmup-ratio", type=float, default=0.1,
                   help="Share of the steps with a linearly rising learning rate, then linear decay (default: 0.1).")
    f.add_argument("--max-grad-norm", type=float, default=1.0, help="Gradient clipping, 0 for none (default: 1.0).")
    f.add_argument("--temperature", type=float, default=0.05, help="graph-aware: InfoNCE temperature (default: 0.05).")
    f.add_argument("--num-negatives", type=int, default=0,
                   help="graph-aware: extra random destination nodes per batch, on top of in-batch negatives "
                        "(default: 0).")
    f.add_argument("--max-steps", type=int, default=None, help="Stop after this many steps (default: no cap).")
    f.add_argument("--train-nodes", type=int, default=None, help="supervised: use N random training nodes.")
    f.add_argument("--train-edges", type=int, default=None, help="graph-aware: use N random training edges.")
    f.add_argument("--eval-rows", type=int, default=None,
                   help="Evaluate on at most N validation and N test nodes/edges (default: all).")
    f.add_argument("--eval-batch-size", type=int, default=64, help="Rows per evaluation pass (default: 64).")
    f.add_argument("--seed", type=int, default=0, help="Seed of shuffling, sampling and the head (default: 0).")
    _runtime_args(f)
    f.set_defaults(run=run_finetune)


def run_embed(args: argparse.Namespace) -> int:
    from graphkit.lm.cache import default_cache_dir
    from graphkit.lm.embed_stage import LMEmbedConfig, lm_embed

    cfg = LMEmbedConfig(
        graph_dir=args.graph_dir, lm_model=args.lm_model, ntypes=_csv(args.ntypes), feature_name=args.feature_name,
        pooling=args.pooling, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
        chunk_size=args.chunk_size, output_dir=args.output_dir,
        cache_dir=None if args.no_cache else (args.cache_dir or default_cache_dir()),
        device=args.device, precision=args.precision, out_dtype=args.out_dtype, overwrite=args.overwrite)
    res = lm_embed(cfg)
    print(res.summary())
    print(f"feature '{res.feature_name}' written to {res.graph_dir} in {res.seconds:.1f} s")
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from graphkit.lm.finetune.run import FinetuneConfig, finetune_lm

    cfg = FinetuneConfig(
        graph_dir=args.graph_dir, lm_model=args.lm_model, output_dir=args.output_dir, mode=args.mode,
        etypes=args.etype, ntype=args.ntype, label_field=args.label_field, pooling=args.pooling,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, head_lr=args.head_lr,
        pseudo_labels=args.pseudo_labels, pseudo_weight=args.pseudo_weight,
        pseudo_min_confidence=args.pseudo_min_confidence,
        weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio, max_grad_norm=args.max_grad_norm,
        max_seq_length=args.max_seq_length,
        temperature=args.temperature, num_negatives=args.num_negatives, max_steps=args.max_steps,
        train_nodes=args.train_nodes, train_edges=args.train_edges, eval_rows=args.eval_rows,
        eval_batch_size=args.eval_batch_size, seed=args.seed, device=args.device, precision=args.precision,
        lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        lora_targets=_csv(args.lora_targets, "--lora-targets"))
    res = finetune_lm(cfg)
    m = res.metrics
    curve = m["loss_per_step"]
    print(f"{m['mode']} fine-tuning: {m['steps']} steps, loss {curve[0]:.4f} -> {curve[-1]:.4f}, "
          f"kept epoch {m['best_epoch']}")
    for split in ("val", "test"):
        if m[split]:
            print(f"{split}: " + ", ".join(f"{k} {v:.4f}" for k, v in m[split].items()))
    print(f"model written to {res.output_dir} ({os.path.join(res.output_dir, 'finetune_metrics.json')})")
    return 0

