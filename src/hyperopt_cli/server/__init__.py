"""The HTTP API and web page over the run directories (`hyperopt serve`)."""
