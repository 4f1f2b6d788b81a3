"""Running one training/inference script as 1 process, ``torchrun --nproc-per-node=K``, or N nodes x K
processes under a PyTorchJob: process-group setup, sharded embeddings, remote sampling and features."""
