"""The names of the token features that ``tokenize_hf`` writes (GraphStorm's fixed names).

A node type with ``input_ids`` and ``attention_mask`` is a *text* type: language-model stages and
LM+GNN co-training read those rows; ``token_type_ids`` is optional.
"""

TOKEN_FEATURES = ("input_ids", "attention_mask", "token_type_ids")
REQUIRED_TOKEN_FEATURES = ("input_ids", "attention_mask")
