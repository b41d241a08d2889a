"""Towers: per-modality encoders that map a model-ready batch to features in a shared space."""
