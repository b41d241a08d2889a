"""Decoding: one module per modality turns files, bytes, arrays or PIL images into arrays."""
