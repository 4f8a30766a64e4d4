"""The hyperparameter search: spaces per group, one Optuna study per group, storage backends, summaries, workers."""
