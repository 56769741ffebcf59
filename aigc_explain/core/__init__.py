"""Detectors and data (torch, no grad-cam or matplotlib): folders, images, models, checkpoints, training."""
