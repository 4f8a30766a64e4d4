"""The classifier: a stacked LSTM read at its last time step, then a linear SELL/HOLD/BUY head."""

from __future__ import annotations

import torch
from torch import nn

N_CLASSES = 3  # 0 = SELL, 1 = HOLD, 2 = BUY


class LSTMClassifier(nn.Module):
    """(batch, window, n_features) float32 -> (batch, 3) logits.

    A plain ``nn.LSTM`` (no custom cells) so CPU runs the oneDNN kernel and CUDA runs cuDNN.
    """

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,  # nn.LSTM only drops between layers
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.dropout(out[:, -1]))
