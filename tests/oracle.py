"""Run the official ``jwst==3.0.0`` calwebb_image2 as a test oracle, offline.

``run_official_image2(input, output_dir, crds_path=..., context=...)`` runs the pipeline in
a subprocess with an isolated CRDS environment (serverless mode, no step-parameter
references), with the working directory set to the input's directory (jwst resolves ASN
member names against the current directory), and returns the products it wrote::

    {"cal": Path, "i2d": Path, "bsub": Path, ...}   # keys = product suffixes present

Results are cached per session: the same (input, context, steps, save_bsub) runs once.
Other tests import this module: ``from oracle import run_official_image2, crds_environment``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["crds_environment", "run_official_image2"]

SERVERLESS_URL = "https://crds-serverless-mode.stsci.edu"
_CACHE = {}

_SCRIPT = r"""
import json, sys
from jwst.pipeline import Image2Pipeline
args = json.loads(sys.argv[1])
Image2Pipeline.call(args["input"], output_dir=args["output_dir"], save_results=True,
                    save_bsub=args["save_bsub"], steps=args["steps"])
"""


def crds_environment(crds_path, context, base=None):
    """A copy of ``base`` (default ``os.environ``) set for an offline CRDS lookup."""
    env = dict(os.environ if base is None else base)
    env.update({
        "CRDS_PATH": str(crds_path),
        "CRDS_CONTEXT": str(context),
        "CRDS_SERVER_URL": SERVERLESS_URL,
        "CRDS_MODE": "local",
        "STPIPE_DISABLE_CRDS_STEPPARS": "True",
    })
    return env


def _product_name(input_path):
    path = Path(input_path)
    if path.name.endswith(".json"):
        asn = json.loads(path.read_text())
        return asn["products"][0]["name"]
    stem = path.name[: -len(".fits")]
    for suffix in ("_rateints", "_rate"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def run_official_image2(asn_or_input_path, output_dir, *, crds_path, context, steps=None,
                        save_bsub=False, timeout=600):
    """Run jwst 3.0.0 calwebb_image2 on one ASN or ``_rate``/``_rateints`` file.

    Parameters
    ----------
    asn_or_input_path : path of an image2 ASN (one product) or a countrate product
    output_dir : where the products go (created)
    crds_path, context : the local CRDS cache and context name ("jwst_0001.pmap")
    steps : optional dict of step options, e.g. ``{"resample": {"skip": True}}``
    save_bsub : also save the background-subtracted product

    Returns
    -------
    dict
        suffix -> Path of each product written (``cal``/``calints``, ``i2d``, ``bsub``/
        ``bsubints``), plus ``log`` -> Path of the captured stdout/stderr.

    Raises
    ------
    RuntimeError with the tail of the log when the pipeline fails.
    """
    src = Path(asn_or_input_path).resolve()
    out = Path(output_dir).resolve()
    key = (str(src), str(out), str(crds_path), str(context),
           json.dumps(steps or {}, sort_keys=True), bool(save_bsub))
    if key in _CACHE:
        return dict(_CACHE[key])
    out.mkdir(parents=True, exist_ok=True)
    args = {"input": src.name, "output_dir": str(out), "steps": steps or {},
            "save_bsub": bool(save_bsub)}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(args)],
        cwd=src.parent, env=crds_environment(crds_path, context),
        capture_output=True, text=True, timeout=timeout,
    )
    name = _product_name(src)
    log = out / f"{name}_image2.log"
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"calwebb_image2 failed on {src.name} (rc={proc.returncode}):\n{tail}")
    found = {"log": log}
    for suffix in ("cal", "calints", "i2d", "bsub", "bsubints"):
        path = out / f"{name}_{suffix}.fits"
        if path.exists():
            found[suffix] = path
    _CACHE[key] = dict(found)
    return found
