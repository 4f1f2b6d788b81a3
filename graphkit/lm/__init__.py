"""Language models on node text (docs/lm.md).

- ``loading``: a Hugging Face tokenizer/model from a local folder (or a hub name).
- ``device``: device and precision (autocast on GPUs, and bf16 on CPUs that have it).
- ``embed``: tokenising, pooling, and :func:`~graphkit.lm.embed.embed_tokens`, the one embedding routine.
- ``encoder``: a loaded model with its pooling, device, precision and content fingerprint.
- ``fingerprint``, ``cache``, ``chunked``: chunked embedding cached by (model, text), resumable.
- ``tokens``: the token features of a graph's node types.
- ``feature_writer``: adding node features to a graph, in place or as a new directory, atomically.
- ``embed_stage``: ``graphkit lm-embed``.
- ``finetune``: ``graphkit lm-finetune`` (graph-aware and supervised).
"""
