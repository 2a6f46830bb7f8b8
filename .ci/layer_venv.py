"""Layer the running venv on a base venv, and list an extra's requirements.

    .venv-slurm/bin/python .ci/layer_venv.py .venv pyproject.toml slurm

writes ``<site-packages>/snakewebb-base.pth`` (the base venv's packages, its
editable snakewebb included, become importable here), ``requirements.txt`` (the
extra's requirements, from pyproject.toml) in the venv, and ``bin/snakemake``.
"""

import os
import sys
import sysconfig
import tomllib
from pathlib import Path

base, pyproject, extra = sys.argv[1:4]
here = Path(sys.prefix)
base_purelib = Path(
    os.popen(f"{Path(base).resolve()}/bin/python -c "
             "\"import sysconfig; print(sysconfig.get_paths()['purelib'])\"").read().strip()
)
purelib = Path(sysconfig.get_paths()["purelib"])
(purelib / "snakewebb-base.pth").write_text(
    f"import site; site.addsitedir({str(base_purelib)!r})\n")
with open(pyproject, "rb") as handle:
    requirements = tomllib.load(handle)["project"]["optional-dependencies"][extra]
(here / "requirements.txt").write_text("\n".join(requirements) + "\n")
script = here / "bin" / "snakemake"
script.write_text(f"#!{here / 'bin' / 'python'}\n"
                  "import sys\nfrom snakemake.cli import main\nsys.exit(main())\n")
script.chmod(0o755)
