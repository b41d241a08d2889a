"""Model families: one module per family, plus `tables` with the registered names and weights."""
