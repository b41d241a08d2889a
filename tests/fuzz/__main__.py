"""Nightly fuzzing: `python -m tests.fuzz --minutes N [--modality image ...] [--seed S]`.

Runs Hypothesis (random bytes) and then seed-file mutation for N minutes per modality, prints a
table, writes each finding's input to `--findings` (default artifacts/fuzz/) and exits 1 if
there was any.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.fuzz.harness import MODALITIES, Report, check, fuzz, save, transforms


def _hypothesis(modality: str, transform, seconds: float, report: Report) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.fuzz.harness import Finding

    stop = time.monotonic() + seconds

    @settings(
        max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.binary(max_size=4096))
    def run(data: bytes) -> None:
        if time.monotonic() >= stop:
            return
        report.inputs[modality] = report.inputs.get(modality, 0) + 1
        problem = check(modality, transform, data)
        if problem is not None:
            report.findings.append(Finding(modality, problem, data))

    while time.monotonic() < stop:  # rounds of 100 examples until the time is up
        try:
            run()
        except Exception as e:  # Hypothesis itself stopping early is not a finding of ours
            print(f"{modality}: hypothesis stopped: {type(e).__name__}: {e}", file=sys.stderr)
            return


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.0, help="per modality")
    p.add_argument("--modality", action="append", choices=MODALITIES, help="default: all")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--findings", type=Path, default=Path("artifacts/fuzz"))
    args = p.parse_args()
    report = Report()
    all_transforms = transforms()
    for modality in args.modality or MODALITIES:
        seconds = 60 * args.minutes
        _hypothesis(modality, all_transforms[modality], seconds / 4, report)
        fuzz(
            modality,
            seconds * 3 / 4,
            seed=args.seed,
            report=report,
            transform=all_transforms[modality],
        )
        print(
            f"{modality:8} {report.inputs.get(modality, 0):8} inputs, slowest "
            f"{report.slowest.get(modality, 0):.2f} s, "
            f"{sum(f.modality == modality for f in report.findings)} findings",
            flush=True,
        )
    for f, path in zip(report.findings, save(report.findings, args.findings), strict=True):
        print(f"FINDING {f.modality}: {f.problem} -> {path}")
    for f in report.slow:
        print(f"SLOW {f.modality}: {f.problem}")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
