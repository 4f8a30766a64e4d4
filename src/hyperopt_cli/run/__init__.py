"""One run: orchestration of the groups, the run directory and its records, stop handling, events, final evaluation."""
