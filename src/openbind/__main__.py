"""`python -m openbind ...` (also what `torchrun -m openbind train ...` runs)."""

import sys

from openbind.cli.main import main

sys.exit(main())
