"""Log lines that say which process wrote them: ``[rank 3/8] ...`` in a multi-process job."""

from __future__ import annotations

import logging

from graphkit.distributed.context import DistContext

_INSTALLED = {"prefix": ""}


def log_with_rank(ctx: DistContext) -> None:
    """Prefix every log record of this process with its rank (nothing in a one-process job). Idempotent."""
    if not ctx.distributed:
        return
    first = not _INSTALLED["prefix"]
    _INSTALLED["prefix"] = f"[rank {ctx.rank}/{ctx.world_size}] "
    if not first:
        return
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.msg = f"{_INSTALLED['prefix']}{record.msg}"
        return record

    logging.setLogRecordFactory(factory)
