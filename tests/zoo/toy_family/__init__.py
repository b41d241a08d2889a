"""A toy two-tower family, as docs/adding-a-family.md adds it (`model.py` is its `encoders/toy/`
subpackage, `family.py` its `zoo/toy.py` module with the cards); the tests register it."""
