"""The bottom layer: atomic files, errors, quoting, YAML parsing, locks and fault points; imports nothing of hyperopt_cli above it."""
