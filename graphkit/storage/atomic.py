"""Write a stage's output directory atomically: a temporary sibling, renamed at the end.

A stage that fails (bad input, a crash, Ctrl-C) leaves no half-written output;
a previous output at the same path stays untouched until the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from typing import Iterator, Sequence

from graphkit.errors import GraphkitError


@contextlib.contextmanager
def atomic_output_dir(path: str, markers: Sequence[str]) -> Iterator[str]:
    """Yield a temporary directory that becomes ``path`` if the block succeeds.

    An existing ``path`` is replaced only if it is empty or holds one of the
    ``markers`` files (a previous output of the same stage); anything else is
    refused rather than deleted.
    """
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise GraphkitError("the output path exists and is not a directory.", file=path)
        entries = os.listdir(path)
        if entries and not any(m in entries for m in markers):
            raise GraphkitError(
                "the output directory exists and is not empty; refusing to overwrite it.",
                file=path,
                hint=f"Choose another --output-dir or remove it "
                     f"(graphkit replaces only its own outputs: {', '.join(markers)}).",
            )
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.exists(path):
        old = f"{path}.old-{uuid.uuid4().hex[:8]}"
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, path)
