"""Import direction at run time, in fresh interpreters: what `import openbind` and `openbind --help`
pull in, which modules stay torch-free, and that the core never imports the layers on top.

The core / top split is read from the import-linter contract in pyproject.toml (which
`lint-imports` checks statically), so both checks follow one list.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _contract() -> tuple[list[str], list[str]]:
    [contract] = [
        c
        for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
        if c["name"] == "core never imports the layers on top"
    ]
    return contract["source_modules"], contract["forbidden_modules"]


def _run(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


TORCH_FREE = {
    "import openbind": "import openbind",
    "registry listing": "import openbind.registry as r; assert r.list_models()",
    "hub": "import openbind.hub",
    "checkpoint": "import openbind.checkpoint",
    "config": "import openbind.config",
    "openbind --help": (
        "import contextlib, io\n"
        "from openbind.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert 'models' in out.getvalue() and 'convert' in out.getvalue()"
    ),
    "index (numpy and types only)": (
        "import importlib, pkgutil, openbind.index as p\n"
        "for m in pkgutil.walk_packages(p.__path__, 'openbind.index.'):\n"
        "    importlib.import_module(m.name)"
    ),
}


@pytest.mark.parametrize("code", TORCH_FREE.values(), ids=TORCH_FREE.keys())
def test_stays_torch_free(code):
    heavy = ("torch", "transformers", "sentence_transformers", "fastapi", "av")
    out = _run(
        code + "\nimport sys\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    assert out.strip().splitlines()[-1] == "[]"


CORE_CHECK = r"""
import importlib, json, pkgutil, sys
from openbind.errors import MissingExtra

core, forbidden = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))

def bad():
    return {m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden)}

report, skipped, checked = {}, [], []
for root in core:
    module = importlib.import_module(root)
    names = [root]
    if hasattr(module, "__path__"):
        names += [m.name for m in pkgutil.walk_packages(module.__path__, root + ".")]
    for name in names:
        before = bad()
        try:
            importlib.import_module(name)
        except MissingExtra:
            skipped.append(name)
            continue
        except ModuleNotFoundError as e:
            if (e.name or "").startswith("openbind"):
                raise
            skipped.append(name)
            continue
        checked.append(name)
        if bad() - before:
            report[name] = sorted(bad() - before)
print(json.dumps({"report": report, "skipped": skipped, "checked": checked}))
"""


def test_core_never_imports_the_layers_on_top():
    core, forbidden = _contract()
    result = json.loads(_run(CORE_CHECK, json.dumps(core), json.dumps(forbidden)).splitlines()[-1])
    assert result["report"] == {}
    assert {"openbind.hub", "openbind.checkpoint", "openbind.space.model"} <= set(result["checked"])
    assert len(result["checked"]) > 40


def test_contract_names_the_layers():
    core, forbidden = _contract()
    assert {"openbind.types", "openbind.registry", "openbind.hub", "openbind.space"} <= set(core)
    assert set(forbidden) == {
        f"openbind.{m}" for m in ("train", "fusion", "serve", "cli", "pipeline", "eval")
    }
