"""Training: config, tasks, the one training loop, checkpoints, metrics and losses."""
