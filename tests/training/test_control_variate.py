"""Control-variate sampling: it uses and refreshes histories, and rescues tiny-fanout training."""

import pytest
import torch
from toy_graph import NC, NUM_CLASSES, make_config

from graphkit.errors import ConfigError
from graphkit.training.trainer import Trainer


def _train(graph, **options):
    options = {"model_encoder_type": "sage", "fanout": "1,1", "num_epochs": 8, "use_mini_batch_infer": False, **options}
    cfg = make_config(NC, **options)
    trainer = Trainer(graph, cfg, None)
    return trainer, trainer.fit()


def test_control_variate_beats_plain_sampling_at_fanout_one(toy_graph):
    _, plain = _train(toy_graph)
    trainer, cv = _train(toy_graph, control_variate=True)
    chance = 1 / NUM_CLASSES
    assert cv["test"]["accuracy"] > 2.5 * chance, f"chance is {chance}"
    assert cv["test"]["accuracy"] >= plain["test"]["accuracy"] - 0.02
    # Histories were filled for the nodes the batches touched, for both layers.
    cvstate = trainer.tasks[0].cv
    assert cvstate is not None and len(cvstate.history) == 2
    for layer_hist in cvstate.history:
        assert any(float(h.abs().sum()) > 0 for h in layer_hist.values())


def test_histories_change_the_estimate_and_are_refreshed(toy_graph):
    trainer, _ = _train(toy_graph, control_variate=True, num_epochs=1)
    task = trainer.tasks[0]
    before = [{t: h.clone() for t, h in layer.items()} for layer in task.cv.history]
    loader = task.train_batches(0)
    loader.set_epoch(5)
    mb = next(iter(loader))
    trainer.model.train()
    task.cv.embed(trainer.model, mb)
    touched = mb.subgraph.blocks[0].src_nodes["user"]
    assert not torch.equal(task.cv.history[0]["user"][touched], before[0]["user"][touched])


def test_control_variate_needs_a_mean_encoder(toy_graph):
    with pytest.raises(ConfigError, match="sage or rgcn"):
        _train(toy_graph, control_variate=True, model_encoder_type="gat")
