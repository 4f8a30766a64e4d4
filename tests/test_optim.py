"""The AdamW every training uses: torch's numbers, without importing torch's compiler (resume start-up time)."""

from __future__ import annotations

import subprocess
import sys

import torch

from hyperopt_cli.training.optim import adamw


def _train(make_optimizer) -> tuple[list[torch.Tensor], dict]:
    torch.manual_seed(0)
    model = torch.nn.LSTM(5, 7, 2, batch_first=True)
    optimizer = make_optimizer(model.parameters())
    for step in range(6):
        optimizer.zero_grad()
        x = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(step))
        model(x)[0].pow(2).mean().backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()], optimizer.state_dict()


def test_same_weights_and_state_as_torch_adamw() -> None:
    ours, our_state = _train(lambda params: adamw(params, lr=1e-2, weight_decay=0.05))
    theirs, their_state = _train(lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=0.05))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))

    def hyperparameters(state: dict) -> list[dict]:  # ours runs multi-tensor (foreach): same numbers, fewer calls
        return [{k: v for k, v in group.items() if k != "foreach"} for group in state["param_groups"]]

    assert hyperparameters(our_state) == hyperparameters(their_state)
    for key, state in our_state["state"].items():
        assert all(torch.equal(state[name], their_state["state"][key][name]) for name in state)


def test_training_never_imports_torch_dynamo() -> None:
    """A fresh process: build, step, save and load the optimizer; torch._dynamo (~1.4 s with what it drags in) stays out."""
    code = (
        "import sys, torch\n"
        "from hyperopt_cli.training.optim import adamw\n"
        "m = torch.nn.Linear(3, 2); o = adamw(m.parameters(), lr=0.1)\n"
        "o.zero_grad(); m(torch.ones(1, 3)).sum().backward(); o.step()\n"
        "o.load_state_dict(o.state_dict())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip() == "False"
