"""Training DRRN: the recipe, the trainer, its data on the device, and a run's checkpoints and curve."""
