"""Building blocks: attention, MLP, transformer blocks, patch and positional embeddings."""
