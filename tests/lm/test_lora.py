"""``graphkit lm-finetune --lora-rank``: only the adapted layers change, the saved folder is a plain
model with the adapters merged, and bad LoRA options are clear errors that write nothing."""

import os

import pytest
import torch

from graphkit.cli.main import main
from graphkit.lm.finetune.run import FinetuneConfig, finetune_lm
from graphkit.lm.loading import load_model

pytest.importorskip("peft")


def _changed(a: torch.nn.Module, b: torch.nn.Module) -> set[str]:
    sb = b.state_dict()
    return {k for k, v in a.state_dict().items() if not torch.equal(v, sb[k])}


@pytest.mark.parametrize("mode", ["supervised", "graph-aware"])
def test_lora_trains_only_the_adapted_layers_and_saves_a_merged_plain_model(text_graph_src, tiny_bert, tmp_path,
                                                                            mode):
    out = str(tmp_path / "ft")
    extra = {"batch_size": 4, "lr": 1e-2} if mode == "supervised" else {"batch_size": 12, "lr": 3e-2}
    m = finetune_lm(FinetuneConfig(text_graph_src, tiny_bert, out, mode=mode, warmup_ratio=0.0, device="cpu",
                                   epochs=10, lora_rank=4, lora_alpha=8.0, **extra)).metrics
    losses = [e["train_loss"] for e in m["epochs"]]
    assert losses[-1] < 0.9 * losses[0], losses
    assert m["lora"] == {"rank": 4, "alpha": 8.0, "dropout": 0.0, "targets": None}
    source, tuned = load_model(tiny_bert), load_model(out)
    assert type(tuned).__name__ == "BertModel"  # no peft wrapper, no adapter weights left
    assert tuned.state_dict().keys() == source.state_dict().keys()
    changed = _changed(tuned, source)
    # peft's BERT defaults: the query and value projections of every layer, weights only (bias="none")
    expected = {f"encoder.layer.{i}.attention.self.{p}.weight" for i in range(source.config.num_hidden_layers)
                for p in ("query", "value")}
    assert changed == expected, changed


def test_lora_targets_choose_the_layers(text_graph_src, tiny_bert, tmp_path):
    out = str(tmp_path / "ft")
    assert main(["lm-finetune", "--graph-dir", text_graph_src, "--lm-model", tiny_bert, "--output-dir", out,
                 "--mode", "supervised", "--epochs", "2", "--batch-size", "4", "--lr", "1e-2", "--device", "cpu",
                 "--lora-rank", "2", "--lora-targets", "key,output.dense"]) == 0
    changed = _changed(load_model(out), load_model(tiny_bert))
    assert changed and all(k.endswith(("attention.self.key.weight", "output.dense.weight")) for k in changed), changed


@pytest.mark.parametrize("args, match", [
    (["--lora-rank", "-1"], "--lora-rank must be >= 0"),
    (["--lora-alpha", "16"], "need --lora-rank > 0"),
    (["--lora-rank", "4", "--lora-dropout", "1.5"], "--lora-dropout must be in"),
    (["--lora-rank", "4", "--lora-targets", "no_such_layer"], "LoRA cannot wrap this model"),
])
def test_bad_lora_options_are_clear_errors_and_write_nothing(text_graph_src, tiny_bert, tmp_path, capsys, args,
                                                            match):
    out = str(tmp_path / "ft")
    assert main(["lm-finetune", "--graph-dir", text_graph_src, "--lm-model", tiny_bert, "--output-dir", out,
                 "--mode", "supervised", "--device", "cpu", *args]) == 2
    assert match in capsys.readouterr().err
    assert not os.path.exists(out)
