"""``s3://`` for every stage's path options, applied around a sub-command's ``run``.

Stages read and write local folders. Here each option that names an input (a file or a
folder) and holds an ``s3://`` URI is downloaded to a temporary folder first, and each
output option holding one is pointed at a temporary local folder that is uploaded after
the stage succeeded (:func:`graphkit.storage.remote.upload`). A stage that fails uploads
nothing, so an earlier output under the same prefix stays as it was.
"""

from __future__ import annotations

import argparse
import logging
import os
import posixpath
import tempfile
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)

# Files that mark a stage's own output (the same markers its local atomic write uses).
GRAPH_MARKERS = ("graph.json",)
MODEL_MARKERS = ("model.pt", "metrics.json")
INFER_MARKERS = ("_GRAPHKIT_OUTPUT",)


@dataclass(frozen=True)
class PathOptions:
    """Which options of a sub-command are paths."""

    inputs: tuple[str, ...] = ()
    # inputs that may name a file inside a folder the stage also reads (graph.json, partition.json)
    file_in_folder: tuple[str, ...] = ()
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # option -> marker files


PATH_OPTIONS: dict[str, PathOptions] = {
    "construct": PathOptions(inputs=("conf_file", "input_dir", "reuse_transforms"),
                             outputs={"output_dir": GRAPH_MARKERS}),
    "transform": PathOptions(inputs=("conf_file", "input_dir", "reuse_transforms"),
                             outputs={"output_dir": ("transformed.json",)}),
    "idmap": PathOptions(inputs=("input_dir",), outputs={"output_dir": GRAPH_MARKERS}),
    "partition": PathOptions(inputs=("graph_dir",), outputs={"output_dir": ("partition.json",)}),
    "train": PathOptions(inputs=("cf", "restore_model_path"), file_in_folder=("part_config",),
                         outputs={"save_model_path": MODEL_MARKERS}),
    "infer": PathOptions(inputs=("restore_model_path", "student"), file_in_folder=("part_config",),
                         outputs={"save_embed_path": INFER_MARKERS, "save_prediction_path": INFER_MARKERS}),
    "distill": PathOptions(inputs=("restore_model_path", "lm_model"), file_in_folder=("part_config",),
                           outputs={"save_model_path": ("student.json",)}),
    "info": PathOptions(inputs=("graph_dir",)),
}


def run_with_remote_paths(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    """Run ``run(args)`` with ``s3://`` options replaced by local copies; upload outputs if it returns 0."""
    from graphkit.storage.remote import is_remote

    opts = PATH_OPTIONS.get(getattr(args, "command", ""))
    names = () if opts is None else (*opts.inputs, *opts.file_in_folder, *opts.outputs)
    if not any(is_remote(getattr(args, n, None)) for n in names):
        return run(args)
    assert opts is not None
    from graphkit.storage.remote import check_replaceable, client, download, is_object, upload

    # A remote config's tables are next to it unless --input-dir says otherwise.
    if is_remote(getattr(args, "conf_file", None)) and hasattr(args, "input_dir") and args.input_dir is None:
        args.input_dir = posixpath.dirname(args.conf_file)
    s3 = client()
    with tempfile.TemporaryDirectory(prefix="graphkit-s3-") as tmp:
        for i, name in enumerate((*opts.inputs, *opts.file_in_folder)):
            uri = getattr(args, name, None)
            if not is_remote(uri):
                continue
            local = os.path.join(tmp, f"in{i}-{name}")
            if name in opts.file_in_folder and is_object(uri, s3):
                folder = download(posixpath.dirname(uri), local, s3)
                setattr(args, name, os.path.join(folder, posixpath.basename(uri)))
            else:
                setattr(args, name, download(uri, local, s3))
            log.info("downloaded %s to %s", uri, getattr(args, name))
        uploads = []
        for i, (name, markers) in enumerate(opts.outputs.items()):
            uri = getattr(args, name, None)
            if is_remote(uri):
                check_replaceable(uri, markers, s3)
                local = os.path.join(tmp, f"out{i}-{name}", "output")
                setattr(args, name, local)
                uploads.append((name, local, uri, markers))
        code = run(args)
        if code == 0:
            for name, local, uri, markers in uploads:
                if os.path.exists(local):
                    n = upload(local, uri, markers, s3)
                    print(f"{n} file(s) uploaded to {uri}")
                setattr(args, name, uri)
        return code
