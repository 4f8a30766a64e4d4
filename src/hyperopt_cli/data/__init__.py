"""Market data in: loading and validating OHLCV files, synthetic bars, features, triple-barrier labels, segments and windows."""
