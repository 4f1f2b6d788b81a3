"""Shared test settings: tests run two at a time (pytest -n 2) on two cores, so each uses one thread."""

import torch

torch.set_num_threads(1)
