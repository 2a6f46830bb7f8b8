"""Level-2 ``image2`` association files of the simulated campaign.

One ASN per exposure (background exposures included, they are calibrated too), one
product per ASN, named after the exposure. Members are typed ``science`` or
``background`` and their paths are relative to the ASN file's directory.
"""

import json
import logging
import os
from pathlib import Path

__all__ = ["asn_dict", "asn_filename", "write_asns"]

log = logging.getLogger(__name__)


def asn_filename(spec):
    """``jw01234-o003_<exposure>_image2_asn.json``-style name (unique per exposure)."""
    return f"jw{spec.program:05d}-o{spec.observation:03d}_{spec.name}_image2_asn.json"


def asn_dict(spec, specs_by_name, asn_dir, rate_dir):
    """The association of ``spec`` as a dict (JSON-ready).

    Raises KeyError when a background member named by ``spec`` is not in ``specs_by_name``.
    """
    def rel(s):
        return Path(os.path.relpath(Path(rate_dir) / s.filename, asn_dir)).as_posix()

    members = [{"expname": rel(spec), "exptype": "science", "exposerr": "null"}]
    if spec.role == "science":
        for name in spec.backgrounds:
            members.append({"expname": rel(specs_by_name[name]), "exptype": "background",
                            "exposerr": "null"})
    tso = spec.is_cube
    return {
        "asn_type": "tso-image2" if tso else "image2",
        "asn_rule": "candidate_Asn_Lv2ImageTSO" if tso else "candidate_Asn_Lv2Image",
        "version_id": None,
        "code_version": "snakewebb-simulator",
        "degraded_status": "No known degraded exposures in association.",
        "program": f"{spec.program:05d}",
        "constraints": f"exp_type={spec.exp_type} detector={spec.detector}",
        "asn_id": f"o{spec.observation:03d}",
        "target": "t001",
        "asn_pool": f"jw{spec.program:05d}_simulated_pool",
        "products": [{"name": spec.name, "members": members}],
    }


def write_asns(specs, asn_dir, rate_dir):
    """Write one ASN per spec into ``asn_dir``; returns {exposure name: ASN path}."""
    asn_dir = Path(asn_dir)
    asn_dir.mkdir(parents=True, exist_ok=True)
    by_name = {s.name: s for s in specs}
    out = {}
    for spec in specs:
        path = asn_dir / asn_filename(spec)
        text = json.dumps(asn_dict(spec, by_name, asn_dir, rate_dir), indent=4) + "\n"
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(text)
        tmp.replace(path)
        out[spec.name] = path
    log.info("wrote %d associations in %s", len(out), asn_dir)
    return out
