"""Out-of-sample evaluation: baselines, purged walk-forward blocks and a bootstrap verdict.

Sits between training and run: it may import data/ and training/, never search/ or run/.
"""
