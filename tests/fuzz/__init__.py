"""Fuzzing every decoder and transform: mutated seed files of every format, plus Hypothesis.

`python -m tests.fuzz --minutes N` is the nightly run (N minutes per modality); the default test
run samples it for a few seconds (`tests/fuzz/test_fuzz.py`).
"""
