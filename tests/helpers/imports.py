"""What importing a module costs, seen from a fresh interpreter."""

import subprocess
import sys

#: Libraries a cheap import (planning, the tables) must not pull in.
HEAVY = ("numpy", "astropy", "asdf", "stdatamodels", "gwcs", "crds", "pandas")


def heavy_imports(*modules, heavy=HEAVY):
    """The ``heavy`` libraries that importing ``modules`` in a new Python loads."""
    code = (f"import sys, {', '.join(modules)}; "
            f"print(' '.join(m for m in {tuple(heavy)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()
