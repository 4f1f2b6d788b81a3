"""torchrun restarts: keep a restarted worker group from reading the previous attempt's rendezvous keys.

Since torch 2.5, torchrun's workers share the agent's TCP store (c10d and
static rendezvous) and ``init_process_group`` writes its keys there without
an attempt prefix. After ``torchrun --max-restarts`` restarts the workers, a
new rank can read an address a dead rank published in the previous attempt
and fail with "Connection refused" (gloo) or a wrong NCCL unique ID
(pytorch/pytorch#135712). Before 2.5 the keys lived under
``/worker/attempt_<TORCHELASTIC_RESTART_COUNT>``; :func:`restart_safe_store`
restores that for restarted attempts. Every worker of one torchrun agent
has the same restart count, so a one-machine job (and a multi-machine c10d
job whose agents restart together) agrees on the prefix; the first attempt
keeps torch's own behaviour.
"""

from __future__ import annotations

import datetime
import os
from typing import Optional

import torch.distributed as dist


def restart_safe_store(world_size: int, timeout: datetime.timedelta) -> Optional[dist.Store]:
    """A store for ``init_process_group(store=...)`` in a restarted torchrun attempt; None otherwise
    (``env://`` as usual)."""
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    if attempt in ("", "0") or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != str(True):
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size,
                          is_master=False, timeout=timeout)
    return dist.PrefixStore(f"/graphkit/attempt_{attempt}", store)
