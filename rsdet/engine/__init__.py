"""The training engine: data loading, augmentation, the training loop, EMA, schedules."""
