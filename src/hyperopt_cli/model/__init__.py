"""The tuned model as the product: RUN_DIR/model/ (weights + model.json), predict, export.

artifact.py saves and loads the directory (torch-free manifest reading stays possible);
build.py turns a run's last walk-forward block into one; predict.py scores new bars.
`export` (a best-params config, or a refit on every labelled bar) reads a run, so it lives in run/export.py.
"""
