"""Training: the data feed, the optimisation loop, EMA weights, checkpoints and the training log."""
