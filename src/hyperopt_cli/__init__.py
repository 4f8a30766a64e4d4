"""hyperopt-cli: group-by-group Optuna tuning of an LSTM trading-signal classifier."""

__version__ = "0.1.0"
