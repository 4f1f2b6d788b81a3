"""``graphkit``: one sub-command per stage.

Each sub-command lives in its own module with ``add_parser(subparsers)``
registering its options and a ``run(args)`` doing the work. User errors
(:class:`graphkit.errors.GraphkitError`) print one paragraph and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from graphkit import __version__
from graphkit.cli import construct as construct_cmd
from graphkit.cli import demo as demo_cmd
from graphkit.cli import distill as distill_cmd
from graphkit.cli import info as info_cmd
from graphkit.cli import launch as launch_cmd
from graphkit.cli import lm as lm_cmd
from graphkit.cli import partition as partition_cmd
from graphkit.cli import pipeline as pipeline_cmd
from graphkit.cli import train as train_cmd
from graphkit.cli.remote import run_with_remote_paths
from graphkit.errors import GraphkitError

# pipeline and launch import kfp / kubernetes only inside their run functions.
COMMANDS = (construct_cmd, partition_cmd, train_cmd, distill_cmd, info_cmd, demo_cmd, pipeline_cmd, launch_cmd,
            lm_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphkit",
        description="Graph machine learning on tables: construct graphs, partition, train GNNs, infer.",
    )
    parser.add_argument("--version", action="version", version=f"graphkit {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help="How much to log (default: info).")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for mod in COMMANDS:
        mod.add_parser(sub)
    return parser


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(asctime)s %(levelname)-7s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    setup_logging(args.log_level)
    try:
        return run_with_remote_paths(args, lambda a: int(a.run(a) or 0))
    except GraphkitError as e:
        print(f"graphkit {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"graphkit {args.command}: interrupted; no output was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # torchrun -m graphkit.cli.main ... (the PyTorchJob entrypoint)
    sys.exit(main())
