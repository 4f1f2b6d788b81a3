"""Distil a trained GNN (the teacher) into a student that needs no graph.

A GNN's embedding of a node depends on its neighbourhood, so a node that arrives
with no edges (a new product, a new paper) gets a poor one. A *student* — an MLP
on the node's own input features, or a language model on its text tokens — is
trained to reproduce the teacher's embeddings from the node alone (MSE, as in
GraphStorm's distillation), optionally also the teacher's soft labels through
the teacher's frozen decoder. It then predicts through that same decoder.

- :mod:`~graphkit.distill.spec`: the student folder (``student.json`` + ``model.pt``);
- :mod:`~graphkit.distill.students`: the student networks and their inputs;
- :mod:`~graphkit.distill.teacher`: the teacher's embeddings, decoder and node task;
- :mod:`~graphkit.distill.train`: ``graphkit distill`` (and the ``--no-distill`` baseline);
- :mod:`~graphkit.distill.predict`: inference with a student, alone or for isolated nodes;
- :mod:`~graphkit.distill.isolated`: the graph with chosen nodes' edges removed, and
  evaluation of teachers and students on test nodes that have lost their edges.
"""
