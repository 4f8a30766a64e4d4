"""Which arithmetic precision a training runs in: `trainer.precision` fp32, bf16 or auto.

bf16 means `torch.autocast` around the forward pass: the LSTM and linear GEMMs run in
bfloat16 while the weights, the optimiser state, the loss and every metric stay float32
(autocast keeps fp32 master weights; the trainer casts the logits to fp32 before the
loss). So checkpoints hold fp32 tensors whatever the precision, and resume stays exact.

`auto` picks bf16 where the hardware runs it natively, because the benchmark showed it
costs no pooled walk-forward macro-F1 beyond noise (bench/bench_precision_f1.py: paired
change +0.000 median, worst +0.000, against a seed spread of 0.011; `AUTO_PICKS_BF16`).
`start` freezes what `auto` resolved to into the run's config.yaml (`frozen_precision`),
so a resume keeps the run's arithmetic wherever it runs.
"""

from __future__ import annotations

import contextlib
import functools
from contextlib import AbstractContextManager

import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
# True since bench/bench_precision_f1.py showed no loss of pooled walk-forward macro-F1
# under bf16 (bench/results/precision-f1-2026-12-01.md; docs/decisions.md, "Speed").
AUTO_PICKS_BF16 = True


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether `device_type` ("cpu" or "cuda") computes bf16 in hardware (CPU: AVX-512 BF16 / AMX via oneDNN)."""
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
    if device_type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
    return False


def resolve_precision(name: str, device: torch.device | str) -> str:
    """The precision a training with `trainer.precision = name` runs in on `device`: "fp32" or "bf16".

    An explicit "bf16" is honoured even without native support (it is then emulated, slowly).
    """
    if name not in PRECISIONS:
        raise ValueError(f"trainer.precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name != "auto":
        return name
    device_type = torch.device(device).type
    return "bf16" if AUTO_PICKS_BF16 and native_bf16(device_type) else "fp32"


def frozen_precision(name: str, device_setting: str) -> str:
    """What `start` writes into a new run's config for `trainer.precision = name` and `trainer.device = device_setting`."""
    if name != "auto":
        return name
    device_type = ("cuda" if torch.cuda.is_available() else "cpu") if device_setting == "auto" else device_setting
    return resolve_precision(name, device_type)


def autocast(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """The context the forward pass runs in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
