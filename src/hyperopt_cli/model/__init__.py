"""The tuned model as the product: RUN_DIR/model/ (weights + model.json), predict, export.

artifact.py saves and loads the directory (torch-free manifest reading stays possible);
build.py turns a run's last walk-forward block into one; predict.py scores new bars;
export.py writes a best-params config or refits on every labelled bar.
"""
