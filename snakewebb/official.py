"""Run the official ``calwebb_image2`` (jwst==3.0.0) on one exposure, offline.

The only module of the package that uses jwst, and only inside
:func:`run_official_image2`: the workflow's ``run_official_image2`` job calls it in
its own process; nothing else imports jwst. Needs the ``verify`` extra
(``pip install 'snakewebb[verify]'``).

How the official pipeline is made to run offline on exactly this project's inputs
(measured, see the project's FACTS): CRDS in serverless mode on the campaign's cache
and context (:meth:`snakewebb.references.CrdsSettings.applied` around the call), no
step-parameter references (``STPIPE_DISABLE_CRDS_STEPPARS``), every reference file
this project used given as an override (``"N/A"`` where it had none), and an ASN with
absolute member paths (jwst resolves member names against the current directory).
"""

import json
import logging
import os
from pathlib import Path

from snakewebb import verify
from snakewebb.errors import ExposureError

__all__ = ["run_official_image2"]

log = logging.getLogger(__name__)


def run_official_image2(exposure, science, backgrounds, output_dir, *, plan, refs,
                        reftypes, asn, crds):
    """Run calwebb_image2 on one exposure; write its products and ``official.json``.

    Parameters
    ----------
    exposure : str
        The ASN product name (the products are ``<exposure>_<suffix>.fits``).
    science : path
        The exposure's ``_rate``/``_rateints``.
    backgrounds : list of path
        Its background members (all of them; used only when ``plan["backgrounds"]``).
    output_dir : path
        Created; receives the official products, the ASN and ``official.json``.
    plan : dict
        :func:`snakewebb.verify.official_plan` of the exposure.
    refs : dict
        reftype -> path of the reference files this project's job used.
    reftypes : dict
        step -> reference types (:data:`snakewebb.references.REFTYPES`).
    asn : dict
        ``{"table": ASN file name, "pool": pool}`` of the campaign's ASN.
    crds : snakewebb.references.CrdsSettings
        The campaign's CRDS cache and context.

    Returns
    -------
    dict
        The manifest written to ``official.json``: ``products`` (suffix -> file name),
        ``excluded`` (deliberate differences of the inputs that prevent a comparison;
        then the official pipeline is not run), ``notes``, ``context``, ``jwst``.
    """
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    members = list(backgrounds) if plan["backgrounds"] else []
    manifest = {"exposure": exposure, "jwst": verify.JWST_VERSION,
                "context": crds.context, "products": {},
                "notes": list(plan.get("notes", [])), "excluded": []}
    try:
        manifest["excluded"] = verify.deliberate_differences(science, members)
    except Exception as exc:  # an unreadable input is the user's to fix
        raise ExposureError(exposure, f"cannot read {Path(science).name} or its background "
                                      f"members: {exc}") from exc
    if manifest["excluded"]:
        log.info("%s: not run through calwebb_image2: %s", exposure,
                 "; ".join(manifest["excluded"]))
    else:
        steps = verify.official_overrides(plan["steps"], refs, reftypes)
        asn_path = out / asn["table"]
        asn_path.write_text(json.dumps(
            verify.level2_asn(exposure, science, members, pool=asn.get("pool")), indent=1))
        manifest["steps"] = steps
        with crds.applied():  # jwst's own crds calls (the context it records)
            _call_image2(exposure, asn_path, out, steps)
        for suffix in ("bsub", "bsubints", "cal", "calints", "i2d"):
            if (out / f"{exposure}_{suffix}.fits").is_file():
                manifest["products"][suffix] = f"{exposure}_{suffix}.fits"
    (out / "official.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _call_image2(exposure, asn_path, out, steps):
    # before crds or stpipe are imported: no step-parameter references from CRDS
    os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "True"
    try:
        from jwst.pipeline import Image2Pipeline
    except ImportError as exc:
        raise ExposureError(exposure, f"the official pipeline cannot be imported ({exc}): "
                                      "pip install 'snakewebb[verify]'") from exc
    log.info("calwebb_image2 on %s with steps %s", asn_path.name, steps)
    try:
        # configure_log=False: its messages go to the job's log (the root logger),
        # not to the terminal as well
        Image2Pipeline.call(str(asn_path), output_dir=str(out), save_results=True,
                            steps=steps, configure_log=False)
    except Exception as exc:  # the official pipeline's own failure
        log.exception("calwebb_image2 failed")
        raise ExposureError(exposure, f"calwebb_image2 failed: {type(exc).__name__}: "
                                      f"{exc}") from exc
