"""Preprocessing: pure, deterministic transforms from decoded arrays to model-ready tensors."""
