"""Write images/requirements.lock: the exact versions of graphkit[lm,pipelines,s3]'s runtime dependencies.

Run with the project's venv after `bash scripts/setup.sh dev`: `.venv/bin/python scripts/lock_images.py`.
It walks the installed distributions from graphkit's requirements (the `lm`, `pipelines` and `s3` extras:
the LM components run in the same images),
so the images get the versions the test suite ran with. torch's local label (+cpu) is dropped: the CPU
image installs torch from PyTorch's CPU index first, the CUDA image takes PyPI's CUDA build.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from packaging.requirements import Requirement

EXTRAS = {"lm", "pipelines", "s3"}


def closure(root: str, extras: set[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    todo = [(root, frozenset(extras))]
    while todo:
        name, ex = todo.pop()
        dist = metadata.distribution(name)
        key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if key in seen and not ex:
            continue
        seen[key] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            env = {"extra": ""}
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (ex or {""})):
                continue
            del env
            try:
                metadata.distribution(req.name)
            except metadata.PackageNotFoundError:
                continue  # a platform-specific dependency not installed here
            if re.sub(r"[-_.]+", "-", req.name).lower() not in seen or req.extras:
                todo.append((req.name, frozenset(req.extras)))
    return seen


def main() -> int:
    pins = closure("graphkit", EXTRAS)
    pins.pop("graphkit")
    lines = [f"{n}=={v.split('+')[0]}" for n, v in sorted(pins.items())]
    with open("images/requirements.lock", "w", encoding="utf-8") as f:
        f.write("# graphkit[lm,pipelines,s3] runtime dependencies, pinned: python scripts/lock_images.py\n")
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} pins written to images/requirements.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
