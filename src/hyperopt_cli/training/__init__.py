"""One model trained: the LSTM, its losses, the training loop, metrics and seeded RNG streams. Never imports optuna or rich."""
