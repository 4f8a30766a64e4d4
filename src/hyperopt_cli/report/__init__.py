"""The run report: an HTML page (page.py) and its pictures (pictures.py), from a run directory alone."""
