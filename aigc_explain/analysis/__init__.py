"""Numbers from maps and predictions (numpy/scipy only): regions, statistics, metrics, spectra, comparisons."""
