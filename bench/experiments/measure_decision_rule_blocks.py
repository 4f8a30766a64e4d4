"""Per walk-forward block: each baseline's decision rule, its cross-fitted check and its test macro-F1 (argmax -> rule).

Not part of run_all.py: the one-off measurement behind the decision rule's margin and its
drops-a-class trigger (docs/decisions.md, "Tuning that never hurts").
    PYTHONPATH=src python bench/experiments/measure_decision_rule_blocks.py tests/data/EURUSD_H1.csv

Columns: block, baseline, rule kind, offsets (SELL, HOLD, BUY), cross-fitted validation
macro-F1 of the offsets and of argmax, the block's test macro-F1 under argmax -> under the
rule, and argmax's prediction shares on the block. Outputs of the three versions of the rule
are in bench/results/decision-rule-blocks-*-2026-12-06.txt.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402
from hyperopt_cli.config import families_for, with_params  # noqa: E402
from hyperopt_cli.data.load import load_data  # noqa: E402
from hyperopt_cli.data.prepare import DataPreparer  # noqa: E402
from hyperopt_cli.evaluation.baselines import baselines_for  # noqa: E402
from hyperopt_cli.evaluation.walkforward import WalkForwardSource, walk_forward  # noqa: E402
from hyperopt_cli.training.metrics import classification_metrics  # noqa: E402

NAMES = ("logistic_regression", "gradient_boosting", "logistic_regression_window")


def main(path: str) -> None:
    warnings.filterwarnings("ignore")
    raw = common.read_yaml("configs/default.yaml")
    raw["data"]["path"] = path
    cfg = common.make_cfg(raw)
    _, labels_cfg = with_params(cfg, {})
    preparer = DataPreparer.for_run(load_data(cfg), cfg)
    source = WalkForwardSource.from_prepared(preparer, preparer.prepare(labels_cfg, families_for(cfg, {})))
    baselines = {k: v for k, v in baselines_for("fitted").items() if k in NAMES}
    result = walk_forward(source, lambda train, block: np.ones(len(block), dtype=np.int64),
                          n_blocks=cfg.walk_forward_blocks, seed=0, baselines=baselines)
    for block in result.blocks:
        y = np.asarray(block.labels)
        for name in NAMES:
            rule = block.rules[name]
            after = classification_metrics(y, np.asarray(block.predictions[name]))["macro_f1"]
            before = classification_metrics(y, np.asarray(block.argmax_predictions[name]))["macro_f1"]
            shares = np.bincount(np.asarray(block.argmax_predictions[name]), minlength=3) / len(y)
            print(block.block, name, rule["kind"], rule["offsets"], "cv", round(rule["fitted_f1"] or 0, 3),
                  round(rule["argmax_f1"] or 0, 3), "test", round(before, 3), "->", round(after, 3),
                  "argmax shares", np.round(shares, 2))


if __name__ == "__main__":
    main(sys.argv[1])
