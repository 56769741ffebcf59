"""Synthetic datasets with known answers: the demo's photos vs. up-convolution fakes, and planted artifacts."""
