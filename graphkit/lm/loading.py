"""Load a Hugging Face tokenizer/model from a local folder (or a hub name, where reachable)."""

from __future__ import annotations

import os
from typing import Any, Optional

from graphkit.errors import GraphkitError


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise GraphkitError(
            "this step needs the Hugging Face 'transformers' package.",
            hint="Install graphkit with the LM extra: pip install 'graphkit[lm]'.",
        ) from None
    return transformers


def _load(kind: str, name: str, key: Optional[str]) -> Any:
    transformers = _require_transformers()
    cls = transformers.AutoTokenizer if kind == "tokenizer" else transformers.AutoModel
    local = os.path.isdir(name)
    try:
        return cls.from_pretrained(name, local_files_only=local or os.environ.get("HF_HUB_OFFLINE") == "1")
    except (OSError, ValueError) as e:
        where = "folder" if local else "model name"
        raise GraphkitError(
            f"cannot load the {kind} from {where} '{name}': {str(e).splitlines()[0][:200]}",
            key=key,
            hint="Pass a local folder holding config.json, the weights and the tokenizer files "
            "(model hubs may be unreachable from this machine).",
        ) from None


def load_tokenizer(name: str, key: Optional[str] = None) -> Any:
    return _load("tokenizer", name, key)


def load_model(name: str, key: Optional[str] = None) -> Any:
    return _load("model", name, key)
