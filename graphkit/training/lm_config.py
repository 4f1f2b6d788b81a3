"""Language-model options of a training config (GraphStorm's LM+GNN co-training), validated.

GraphStorm spells the per-node-type LM settings in two ways, and graphkit reads both::

    gsf:
      lm:                          # or the section name lm_model; sections are namespaces only
        node_lm_configs:
          - lm_type: bert
            model_name: bert-base-uncased   # a local folder or a hub name
            gradient_checkpoint: true
            node_types: [paper]
        lm_train_nodes: 256
        lm_infer_batch_size: 64
        freeze_lm_encoder_epochs: 1

    lm_model:                      # GraphStorm's older top-level layout
      node_lm_models: [ ...same entries... ]

Besides GraphStorm's keys, an entry may set ``pooling`` (``pooler``, GraphStorm's choice and the
default; ``cls``; ``mean``), ``max_seq_length`` (use only the first N stored tokens of every
text: cheaper co-training than the length the graph was tokenised with) and ``precision``
(``auto``: bfloat16 autocast on GPUs that have it, else float32; ``bf16``: also on CPUs with native
bfloat16, about 1.7x faster there; ``fp32``), and LoRA: ``lora_rank`` (> 0: only low-rank adapters
of the LM train, through peft; the LM's own weights stay as loaded), ``lora_alpha`` (default: the
rank), ``lora_dropout`` and ``lora_targets`` (module names; default: peft's for the model type).
Ranges follow GraphStorm: ``lm_train_nodes >= -1`` (-1: every node of
a mini-batch back-propagates through the LM; 0: none, the LM stays as loaded),
``lm_infer_batch_size > 0``, ``freeze_lm_encoder_epochs >= 0``, ``lm_tune_lr > 0`` (default ``lr``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from graphkit.errors import ConfigError, did_you_mean
from graphkit.lm.lora import LoraOptions

POOLINGS = ("pooler", "cls", "mean")  # graphkit.lm.embed.POOLINGS, without importing torch here
PRECISIONS = ("auto", "fp32", "bf16")  # graphkit.models.lm_input.LM_PRECISIONS, likewise
_ENTRY_KEYS = {"lm_type": str, "model_name": str, "gradient_checkpoint": bool, "node_types": list, "pooling": str,
               "max_seq_length": int, "precision": str, "lora_rank": int, "lora_alpha": (int, float),
               "lora_dropout": (int, float), "lora_targets": list}
_REQUIRED = ("lm_type", "model_name", "node_types")


@dataclass(frozen=True)
class NodeLMConfig:
    """One language model and the node types whose text it encodes (one ``node_lm_configs`` entry)."""

    lm_type: str
    model_name: str
    node_types: tuple[str, ...]
    gradient_checkpoint: bool = False
    pooling: str = "pooler"
    max_seq_length: Optional[int] = None  # read only the first N stored tokens (None: all)
    precision: str = "auto"  # auto: bf16 on GPUs with it, else fp32; bf16: also on CPUs with native bf16
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank (peft) instead of every LM weight
    lora_alpha: Optional[float] = None  # None: lora_rank
    lora_dropout: float = 0.0
    lora_targets: Optional[tuple[str, ...]] = None  # None: peft's defaults (BERT: query, value)


def parse_node_lm_configs(raw: Any, key: str = "node_lm_configs", file: Optional[str] = None) -> list[NodeLMConfig]:
    """The entries of ``node_lm_configs``, each checked; a node type may appear in one entry only."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError("node_lm_configs must be a non-empty list of language-model entries.", file=file, key=key,
                          hint="Each entry: {lm_type: bert, model_name: <folder or hub name>, node_types: [...]}.")
    out: list[NodeLMConfig] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError("each node_lm_configs entry must be a mapping.", file=file, key=where)
        for k, v in entry.items():
            if k not in _ENTRY_KEYS:
                raise ConfigError(f"unknown key '{k}'.", file=file, key=f"{where}.{k}",
                                  hint=did_you_mean(k, _ENTRY_KEYS))
            kind = _ENTRY_KEYS[k]
            if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
                name = kind.__name__ if isinstance(kind, type) else "number"
                raise ConfigError(f"expected {name}, got {v!r}.", file=file, key=f"{where}.{k}")
        missing = [k for k in _REQUIRED if k not in entry]
        if missing:
            raise ConfigError(f"missing {', '.join(missing)}.", file=file, key=where,
                              hint="Each entry needs lm_type, model_name and node_types.")
        types = entry["node_types"]
        if not types or not all(isinstance(t, str) and t for t in types):
            raise ConfigError("node_types must be a non-empty list of node type names.", file=file,
                              key=f"{where}.node_types")
        for t in types:
            if t in seen:
                raise ConfigError(f"node type '{t}' is in entries {seen[t]} and {i}; one language model per node type.",
                                  file=file, key=f"{where}.node_types")
            seen[t] = i
        pooling = entry.get("pooling", "pooler")
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling '{pooling}'.", file=file, key=f"{where}.pooling",
                              hint=f"Choices: {', '.join(POOLINGS)}.")
        length = entry.get("max_seq_length")
        if length is not None and length < 1:
            raise ConfigError(f"max_seq_length must be >= 1, got {length}.", file=file, key=f"{where}.max_seq_length")
        precision = entry.get("precision", "auto")
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{precision}'.", file=file, key=f"{where}.precision",
                              hint=f"Choices: {', '.join(PRECISIONS)} (fp16 would need loss scaling).")
        targets = entry.get("lora_targets")
        lora = LoraOptions(entry.get("lora_rank", 0), entry.get("lora_alpha"), entry.get("lora_dropout", 0.0),
                           tuple(targets) if targets is not None else None)
        problems = lora.problems(lambda f: f"lora_{f}")
        if problems:
            field, problem = problems[0]
            raise ConfigError(problem, file=file, key=f"{where}.lora_{field}")
        out.append(NodeLMConfig(entry["lm_type"], entry["model_name"], tuple(types),
                                bool(entry.get("gradient_checkpoint", False)), pooling, length, precision, lora.rank,
                                float(lora.alpha) if lora.alpha is not None else None, float(lora.dropout),
                                lora.targets))
    return out


def check_lm_options(options: Mapping[str, Any], file: Optional[str] = None) -> None:
    """Range checks of the LM options (types are checked by the config reader)."""
    if options.get("node_lm_configs") is not None:
        parse_node_lm_configs(options["node_lm_configs"], file=file)
    checks = (("lm_train_nodes", -1, ">= -1 (-1: all nodes of a mini-batch, 0: none)"),
              ("lm_infer_batch_size", 1, ">= 1"), ("freeze_lm_encoder_epochs", 0, ">= 0"))
    for name, low, text in checks:
        v = options.get(name)
        if v is not None and v < low:
            raise ConfigError(f"{name} must be {text}, got {v}.", file=file, key=name)
    lr = options.get("lm_tune_lr")
    if lr is not None and lr <= 0:
        raise ConfigError(f"lm_tune_lr must be > 0, got {lr}.", file=file, key="lm_tune_lr")
