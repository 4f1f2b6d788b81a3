"""``graphkit lm-finetune``: fine-tune a language model on a graph's text before GNN training.

Two objectives (one training loop, :mod:`.loop`): graph-aware link prediction on the text of
connected nodes (:mod:`.link`) and node classification on the text (:mod:`.node`). The result
is a Hugging Face model folder that ``graphkit lm-embed`` and LM+GNN co-training load
(:mod:`.run`).
"""
