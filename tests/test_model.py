from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from hyperopt_cli.training.model import LSTMClassifier


@pytest.mark.parametrize("num_layers", [1, 2])
def test_logits_shape_and_every_parameter_gets_a_gradient(num_layers: int) -> None:
    torch.manual_seed(0)
    model = LSTMClassifier(n_features=5, hidden_size=4, num_layers=num_layers, dropout=0.2)
    x = torch.randn(7, 9, 5)
    logits = model(x)
    assert logits.shape == (7, 3)
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_single_layer_has_no_inter_layer_dropout_and_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nn.LSTM warns when dropout is set with one layer
        model = LSTMClassifier(5, 4, num_layers=1, dropout=0.3)
    assert model.lstm.dropout == 0.0
    assert model.dropout.p == 0.3
    assert LSTMClassifier(5, 4, num_layers=2, dropout=0.3).lstm.dropout == 0.3


def test_uses_the_stock_lstm_so_the_fused_kernels_apply() -> None:
    model = LSTMClassifier(5, 4, num_layers=2, dropout=0.0)
    assert type(model.lstm) is nn.LSTM and model.lstm.batch_first


def test_reads_the_last_time_step_only() -> None:
    torch.manual_seed(0)
    model = LSTMClassifier(3, 4, num_layers=1, dropout=0.0).eval()
    x = torch.randn(2, 6, 3)
    longer = torch.cat([torch.randn(2, 4, 3), x], dim=1)  # extra history changes the state ...
    assert not torch.allclose(model(x), model(longer))
    with torch.no_grad():  # ... and the output is the head applied to the final step
        out, _ = model.lstm(x)
        assert torch.allclose(model(x), model.head(out[:, -1]))
