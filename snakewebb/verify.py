"""Verification of a campaign against the official ``calwebb_image2``.

A campaign with ``verify: {fraction: F, seed: S}`` also runs a sample of its exposures
through the official pipeline (``jwst==3.0.0``, the ``verify`` extra; see
:mod:`snakewebb.official`) with the same inputs, reference files and context, and
compares each of this project's products of those exposures with the official one at
the tolerances of the parity tests. This module holds the parts that need no jwst:

* :func:`select_sample`: which exposures (deterministic, pure);
* :func:`official_plan`: the official pipeline's step options that mirror this
  project's plan for an exposure, and the README's deliberate differences they avoid;
* :func:`deliberate_differences`: inputs the official pipeline treats differently on
  purpose (found from headers), for which no comparison is made;
* :func:`compare_product` / :func:`compare_exposure`: one row per product, with the
  largest relative and absolute difference of each array and pass/fail;
* :func:`write_rows` / :func:`read_rows` / :func:`failure_message`: the TSV tables.

No jwst, and nothing heavy, is imported at module level: the workflow imports this
module while it builds the graph.
"""

import csv
import hashlib
import importlib.metadata
import importlib.util
import logging
import math
import os
from pathlib import Path

from snakewebb import modes
from snakewebb.errors import ExposureError

__all__ = [
    "JWST_VERSION",
    "CAL_RTOL", "CAL_ATOL", "I2D_RTOL", "I2D_ATOL",
    "COLUMNS",
    "official_pipeline_problem",
    "mode_of",
    "select_sample",
    "OFFICIAL_RESAMPLE_EXP_TYPES",
    "not_resampled_reason",
    "official_plan",
    "official_overrides",
    "level2_asn",
    "deliberate_differences",
    "compare_product",
    "compare_exposure",
    "write_rows",
    "read_rows",
    "failure_message",
]

log = logging.getLogger(__name__)

#: The official pipeline release parity is proven against (the ``verify`` extra).
JWST_VERSION = "3.0.0"

#: The official regression tolerances, as the parity tests use them: _cal/_calints
#: and _bsub arrays, and _i2d arrays where WHT > 0.
CAL_RTOL, CAL_ATOL = 1e-5, 1e-7
I2D_RTOL, I2D_ATOL = 5e-5, 1e-4

#: Arrays compared per product kind (extension names), with (rtol, atol); WHT's
#: absolute tolerance is relative to its median (see :func:`_compare_i2d`).
_CAL_ARRAYS = ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "AREA")
_I2D_ARRAYS = ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "WHT")
_ALL_ARRAYS = ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "AREA", "WHT")

#: Columns of the comparison tables (one row per compared product).
COLUMNS = (
    "exposure", "product", "status", "worst",
    *(f"{name}_{stat}" for name in _ALL_ARRAYS for stat in ("max_rel", "max_abs")),
    "DQ_mismatches", "CON_mismatches", "problems", "deliberate_differences",
)

#: Keywords compared in the primary and SCI headers of _cal/_bsub products.
_PHOT_KEYWORDS = ("BUNIT", "PHOTMJSR", "PIXAR_SR", "PIXAR_A2")

# The README's "Where we differ from calwebb_image2 on purpose", as they show here.
_NO_BKG_RECORD = ("S_BKDSUB: SKIPPED here, absent from calwebb_image2's product "
                  "(no background subtraction: the official pipeline records nothing)")
_TSO_BACKGROUND = ("background members not subtracted: a TSO exposure (the official "
                   "pipeline would subtract them; run here without them)")
_NOT_RESAMPLED = ("no _i2d: {why} (the official pipeline would resample it; its "
                  "resample step was skipped)")


# ------------------------------------------------------------------ planning

def official_pipeline_problem():
    """Why the official pipeline cannot be run here, as one line; None when it can.

    Neither jwst nor anything of it is imported: its presence is looked up.
    """
    try:
        spec = importlib.util.find_spec("jwst")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return ("verify is on but the official pipeline is not installed: "
                f"pip install 'snakewebb[verify]' (jwst=={JWST_VERSION}), "
                "or set verify.fraction to 0")
    try:
        version = importlib.metadata.version("jwst")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if version != JWST_VERSION:
        return (f"verify needs jwst=={JWST_VERSION} (the release parity is proven "
                f"against), not {version}: pip install 'snakewebb[verify]'")
    return None


def mode_of(instrument, exp_type, is_cube, backgrounds):
    """An exposure's instrument mode: (instrument, EXP_TYPE, 2D/3D, with/without background)."""
    return (str(instrument), str(exp_type), "3D" if is_cube else "2D",
            "background" if len(backgrounds) else "no background")


def _score(name, seed):
    digest = hashlib.sha256(f"{seed}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def select_sample(table, fraction, seed=0):
    """The exposures to verify: a deterministic sample of ``table``.

    Every exposure gets a pseudo-random rank from a hash of its name and ``seed``
    (independent of the table's order and of the other exposures). The sample is
    the ``ceil(fraction * N)`` first exposures in that order, plus, for every
    instrument mode (:func:`mode_of`) they leave out, the first exposure of that
    mode. The same campaign, fraction and seed always give the same sample; adding
    exposures to a campaign leaves the order of the others unchanged.

    Parameters
    ----------
    table : pandas.DataFrame
        The exposure table (index = exposure; columns ``instrument``, ``exp_type``,
        ``is_cube``, ``backgrounds``).
    fraction : float
        0 to 1; 0 selects nothing (verification off).
    seed : int

    Returns
    -------
    list of str
        The sampled exposures, sorted.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"verify fraction must lie in [0, 1], not {fraction}")
    if fraction == 0 or len(table) == 0:
        return []
    modes = {
        name: mode_of(instrument, exp_type, cube, backgrounds)
        for name, instrument, exp_type, cube, backgrounds in zip(
            table.index, table["instrument"], table["exp_type"], table["is_cube"],
            table["backgrounds"])
    }
    order = sorted(modes, key=lambda name: (_score(name, seed), name))
    count = math.ceil(round(fraction * len(order), 9))
    chosen = set(order[:count])
    covered = {modes[name] for name in chosen}
    for name in order:
        if modes[name] not in covered:
            chosen.add(name)
            covered.add(modes[name])
    return sorted(chosen)


#: EXP_TYPEs calwebb_image2 resamples to _i2d when the data are 2D (whatever TSOVISIT).
OFFICIAL_RESAMPLE_EXP_TYPES = frozenset({"MIR_IMAGE", "NRC_IMAGE", "NIS_IMAGE", "FGS_IMAGE"})


def not_resampled_reason(exp_type, is_cube, tso):
    """Why an exposure the official pipeline resamples gets no ``_i2d`` here.

    A deliberate difference; None when the official pipeline does not resample it either
    (or it is resampled here).
    """
    if is_cube or exp_type not in OFFICIAL_RESAMPLE_EXP_TYPES:
        return None
    if tso:
        return "a TSO exposure (TSOVISIT=T or a TSO EXP_TYPE)"
    if exp_type not in modes.RESAMPLE_EXP_TYPES:
        return f"{exp_type} is not resampled here"
    return None


def official_plan(*, skip, subtracts_background, has_background_members, tso,
                  resampled, resample_reason, save_bsub, background, resample):
    """Step options of the official run that mirror this project's plan for one exposure.

    Parameters
    ----------
    skip : dict
        The workflow's ``skip`` switches (``background``, ``assign_wcs``, ...).
    subtracts_background : bool
        This project subtracts the exposure's background members.
    has_background_members, tso : bool
    resampled : bool
        This project makes an ``_i2d`` of it.
    resample_reason : str
        Why not, when it is not (for the notes).
    save_bsub : bool
        This project keeps the exposure's ``_bsub``.
    background, resample : dict
        The workflow's ``background`` and ``resample`` settings.

    Returns
    -------
    dict
        ``{"steps": {step: {option: value}}, "backgrounds": bool, "notes": [str]}``:
        the official ``steps`` argument without reference overrides (see
        :func:`official_overrides`), whether the background members go into the
        official run's ASN, and the deliberate differences this avoids.
    """
    notes = []
    steps = {}
    if subtracts_background:
        steps["bkg_subtract"] = {"sigma": float(background["sigma"]),
                                 "save_results": bool(save_bsub)}
        if background.get("maxiters") is not None:
            steps["bkg_subtract"]["maxiters"] = int(background["maxiters"])
    elif has_background_members and tso:
        notes.append(_TSO_BACKGROUND)
    for step in ("assign_wcs", "flat_field", "photom"):
        steps[step] = {"skip": True} if skip.get(step) else {}
    if resampled:
        steps["resample"] = {key: value for key, value in resample.items()
                             if value is not None}
    else:
        steps["resample"] = {"skip": True}
        if resample_reason:
            notes.append(_NOT_RESAMPLED.format(why=resample_reason))
    if not subtracts_background:
        notes.append(_NO_BKG_RECORD)
    return {"steps": steps, "backgrounds": bool(subtracts_background), "notes": notes}


def official_overrides(steps, refs, reftypes):
    """``steps`` with the reference files of this project's job as overrides.

    ``reftypes`` is ``{step: (reftype, ...)}`` (:data:`snakewebb.references.REFTYPES`);
    a type absent from ``refs`` (N/A for the exposure) is given as ``"N/A"``, so the
    official run uses exactly the same files. Skipped steps get none.
    """
    out = {step: dict(options) for step, options in steps.items()}
    for step, types in reftypes.items():
        options = out.setdefault(step, {})
        if options.get("skip"):
            continue
        for reftype in types:
            path = refs.get(reftype)
            options[f"override_{reftype}"] = str(path) if path else "N/A"
    return out


def level2_asn(name, science, backgrounds, *, pool):
    """A one-product image2 ASN with absolute member paths (a dict for json).

    Written under the campaign ASN's own file name, it gives the official products
    the same ASNTABLE/ASNPOOL as this project's.
    """
    members = [{"expname": os.path.abspath(science), "exptype": "science"}]
    members += [{"expname": os.path.abspath(b), "exptype": "background"}
                for b in backgrounds]
    return {"asn_type": "image2", "asn_rule": "snakewebb_verify",
            "asn_pool": pool or "none", "asn_id": "verify", "program": "",
            "products": [{"name": name, "members": members}]}


def _geometry(path):
    """(SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2, SCI NAXIS, extension names) of a file."""
    from astropy.io import fits

    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        primary = hdul[0].header
        names = [hdu.name for hdu in hdul]
        naxis = hdul["SCI"].header.get("NAXIS") if "SCI" in names else None
        where = tuple(primary.get(k) for k in ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"))
    return where, naxis, names


def deliberate_differences(science, backgrounds=()):
    """Inputs the README says this project treats differently on purpose, from headers.

    Returns a list of one-line reasons (empty when the official pipeline's products
    are comparable): a background member on another subarray, cube science with 2D
    members or the reverse, science without its ASDF extension, DQ or ERR.
    """
    reasons = []
    where, naxis, names = _geometry(science)
    missing = [ext for ext in ("ASDF", "DQ", "ERR") if ext not in names]
    if missing:
        reasons.append(f"science without its {'/'.join(missing)} extension "
                       "(calibrated here; the official pipeline cannot read it)")
    for member in backgrounds:
        b_where, b_naxis, _ = _geometry(member)
        if b_naxis != naxis:
            reasons.append(f"background member {Path(member).name} is "
                           f"{'a cube' if b_naxis == 3 else '2D'} and the science is not "
                           "(subtracted here; the official pipeline fails)")
        elif b_where != where:
            reasons.append(f"background member {Path(member).name} is on another subarray "
                           "(subtracted here at its own detector pixels)")
    return reasons


# ------------------------------------------------------------------ comparison

def _stats(ours, official, rtol, atol):
    """Largest relative / absolute difference and the worst ratio to the tolerance.

    Pixels NaN on one side only are counted apart (``nan``); relative differences
    leave out official zeros.
    """
    import numpy as np

    ours = np.asarray(ours, dtype=np.float64)
    official = np.asarray(official, dtype=np.float64)
    nan_o, nan_u = ~np.isfinite(official), ~np.isfinite(ours)
    mismatched = int(np.count_nonzero(nan_o != nan_u))
    both = ~(nan_o | nan_u)
    a, b = ours[both], official[both]
    if a.size == 0:
        return {"max_rel": 0.0, "max_abs": 0.0, "excess": 0.0, "nan": mismatched,
                "over": 0}
    diff = np.abs(a - b)
    scale = np.abs(b)
    nonzero = scale > 0
    max_rel = float(np.max(diff[nonzero] / scale[nonzero])) if nonzero.any() else 0.0
    ratio = diff / (atol + rtol * scale)
    return {"max_rel": max_rel, "max_abs": float(np.max(diff)),
            "excess": float(np.max(ratio)), "nan": mismatched,
            "over": int(np.count_nonzero(ratio > 1))}


def _fmt(value):
    return "" if value is None else f"{value:.3g}"


class _Row:
    """Collects one product's results, then becomes a TSV row."""

    def __init__(self, exposure, product):
        self.exposure, self.product = exposure, product
        self.arrays = {}        # name -> stats (with rtol/atol)
        self.problems = []      # (excess for ordering, array or keyword, text)
        self.dq = self.con = None
        self.notes = []

    def array(self, name, ours, official, rtol, atol):
        if ours is None or official is None:
            if (ours is None) != (official is None):
                which = "here" if ours is None else "in calwebb_image2's product"
                self.problems.append((math.inf, name, f"{name} missing {which}"))
            return
        if ours.shape != official.shape:
            self.problems.append((math.inf, name, f"{name} shape {ours.shape} != "
                                                  f"{official.shape}"))
            return
        stats = _stats(ours, official, rtol, atol)
        stats.update(rtol=rtol, atol=atol)
        self.arrays[name] = stats
        if stats["nan"]:
            self.problems.append((math.inf, name, f"{name} NaN at {stats['nan']} pixels "
                                                  "where the other is not"))
        if stats["over"]:
            self.problems.append((stats["excess"], name,
                                  f"{name} max rel diff {stats['max_rel']:.3g}, max abs "
                                  f"{stats['max_abs']:.3g} at {stats['over']} pixels beyond "
                                  f"rtol {rtol:g} / atol {atol:.3g}"))

    def exact(self, name, ours, official):
        import numpy as np

        if ours is None and official is None:
            return None
        if ours is None or official is None or ours.shape != official.shape:
            self.problems.append((math.inf, name, f"{name} missing or of another shape"))
            return -1
        count = int(np.count_nonzero(ours != official))
        if count:
            self.problems.append((math.inf, name, f"{name} differs at {count} pixels"))
        return count

    def keyword(self, name, ours, official, *, rel=None):
        if rel is not None and isinstance(official, (int, float)) and \
                isinstance(ours, (int, float)) and not isinstance(official, bool):
            same = math.isclose(ours, official, rel_tol=rel, abs_tol=1e-12)
        else:
            same = ours == official
        if not same:
            self.problems.append((math.inf, name, f"{name} {ours!r} != {official!r}"))

    def row(self):
        values = {"exposure": self.exposure, "product": self.product}
        for name in _ALL_ARRAYS:
            stats = self.arrays.get(name)
            values[f"{name}_max_rel"] = _fmt(stats and stats["max_rel"])
            values[f"{name}_max_abs"] = _fmt(stats and stats["max_abs"])
        values["DQ_mismatches"] = "" if self.dq is None else str(self.dq)
        values["CON_mismatches"] = "" if self.con is None else str(self.con)
        if self.problems:
            worst = max(self.problems, key=lambda p: p[0])[1]
            values["status"] = "fail"
        else:
            values["status"] = "pass"
            worst = max(self.arrays, key=lambda n: self.arrays[n]["excess"], default="")
            if worst and self.arrays[worst]["excess"] == 0:
                worst = ""  # identical arrays
        values["worst"] = worst
        ordered = sorted(self.problems, key=lambda p: -p[0])
        values["problems"] = "; ".join(text for _, _, text in ordered)
        values["deliberate_differences"] = "; ".join(self.notes)
        return values


def _ext(hdul, name):
    return hdul[name].data if name in hdul else None


def _same_sky(row, ours_wcs, official_wcs, shape, step):
    """World coordinates on a grid of pixels agree within rtol 1e-7 (RA wrap-safe)."""
    import numpy as np

    if ours_wcs is None or official_wcs is None:
        if (ours_wcs is None) != (official_wcs is None):
            row.problems.append((math.inf, "WCS", "WCS missing on one side"))
        return
    ny, nx = shape
    y, x = np.mgrid[0:ny:max(ny // step, 1), 0:nx:max(nx // step, 1)]
    ra1, dec1 = (np.asarray(v, float) for v in ours_wcs(x, y))
    ra2, dec2 = (np.asarray(v, float) for v in official_wcs(x, y))
    ok = np.isfinite(ra2) & np.isfinite(dec2)
    if not np.array_equal(ok, np.isfinite(ra1) & np.isfinite(dec1)):
        row.problems.append((math.inf, "WCS", "WCS defined on other pixels"))
        return
    ddec = np.abs(dec1[ok] - dec2[ok]) / np.maximum(np.abs(dec2[ok]), 1e-300)
    dra = (ra1[ok] - ra2[ok] + 180.0) % 360.0 - 180.0
    near_wrap = np.minimum(ra2[ok], 360 - ra2[ok]) < 1.0
    ra_bad = np.where(near_wrap, np.abs(dra * np.cos(np.radians(dec2[ok]))) > 1e-8,
                      np.abs(dra) > 1e-7 * np.abs(ra2[ok]))
    if np.any(ddec > 1e-7) or np.any(ra_bad):
        row.problems.append((math.inf, "WCS", "world coordinates differ beyond rtol 1e-7"))


def _reference_name(value):
    """The file name an ``R_*`` keyword records.

    ``crds://name`` here and in CRDS-selected official products, the override's full path
    in the official run given overrides.
    """
    if not isinstance(value, str) or value == "N/A":
        return value
    return os.path.basename(value.removeprefix("crds://"))


def _compare_cal(row, ours_path, official_path, *, calibrated):
    from astropy.io import fits

    with fits.open(ours_path) as ours, fits.open(official_path) as official:
        for name in _CAL_ARRAYS:
            row.array(name, _ext(ours, name), _ext(official, name), CAL_RTOL, CAL_ATOL)
        row.dq = row.exact("DQ", _ext(ours, "DQ"), _ext(official, "DQ"))
        headers = {"primary": (ours[0].header, official[0].header)}
        if "SCI" in ours and "SCI" in official:
            headers["SCI"] = (ours["SCI"].header, official["SCI"].header)
        # the official _bsub is written before assign_wcs/photom and carries fewer
        # keywords (no CRDS_CTX): a _bsub is compared on those the official one has
        for ext, (h_ours, h_official) in headers.items():
            for key in _PHOT_KEYWORDS:
                if calibrated or key in h_official:
                    row.keyword(f"{key}[{ext}]", h_ours.get(key), h_official.get(key))
        h_ours, h_official = headers["primary"]
        for key in ("CRDS_CTX", "ASNTABLE", "ASNPOOL"):
            if calibrated or key in h_official:
                row.keyword(key, h_ours.get(key), h_official.get(key))
        for key, value in h_official.items():
            if key == "S_RESAMP":  # the _i2d is a product of its own here
                continue
            if key.startswith("S_"):
                row.keyword(key, h_ours.get(key), value)
            elif key.startswith("R_"):
                row.keyword(key, _reference_name(h_ours.get(key)), _reference_name(value))
        if "S_BKDSUB" not in h_official and h_ours.get("S_BKDSUB") != "SKIPPED":
            row.keyword("S_BKDSUB", h_ours.get("S_BKDSUB"), None)
        shape = ours["SCI"].data.shape[-2:] if "SCI" in ours else None
    if calibrated and shape is not None:
        from stdatamodels.jwst import datamodels

        with datamodels.open(ours_path) as m_ours, datamodels.open(official_path) as m_off:
            _same_sky(row, m_ours.meta.wcs, m_off.meta.wcs, shape, 7)


_WCSINFO = ("crpix1", "crpix2", "crval1", "crval2", "cdelt1", "cdelt2", "pc1_1", "pc1_2",
            "pc2_1", "pc2_2", "ctype1", "ctype2", "cunit1", "cunit2", "radesys")
_EXPOSURE_TIMES = ("exposure_time", "effective_exposure_time", "measurement_time",
                   "duration", "elapsed_exposure_time", "start_time", "end_time")


def _compare_i2d(row, ours_path, official_path):
    import numpy as np
    from stdatamodels.jwst import datamodels

    with datamodels.open(ours_path) as ours, datamodels.open(official_path) as official:
        if ours.data.shape != official.data.shape:
            row.problems.append((math.inf, "SCI", f"SCI shape {ours.data.shape} != "
                                                  f"{official.data.shape}"))
            return
        good = official.wht > 0
        wrong = int(np.count_nonzero((ours.wht > 0) != good))
        if wrong:
            row.problems.append((math.inf, "WHT", f"WHT > 0 at {wrong} other pixels"))
            good &= ours.wht > 0
        wht_atol = 1e-5 * float(np.median(official.wht[good])) if good.any() else 0.0
        for name, attr in (("SCI", "data"), ("ERR", "err"), ("VAR_POISSON", "var_poisson"),
                           ("VAR_RNOISE", "var_rnoise"), ("VAR_FLAT", "var_flat"),
                           ("WHT", "wht")):
            a, b = getattr(ours, attr, None), getattr(official, attr, None)
            if a is None or b is None:
                row.array(name, a, b, I2D_RTOL, I2D_ATOL)
                continue
            rtol, atol = {"WHT": (1e-4, wht_atol),
                          "VAR_POISSON": (2 * I2D_RTOL, I2D_ATOL ** 2),
                          "VAR_RNOISE": (2 * I2D_RTOL, I2D_ATOL ** 2),
                          "VAR_FLAT": (2 * I2D_RTOL, I2D_ATOL ** 2)}.get(
                              name, (I2D_RTOL, I2D_ATOL))
            row.array(name, np.asarray(a)[good], np.asarray(b)[good], rtol, atol)
        row.con = row.exact("CON", np.asarray(ours.con), np.asarray(official.con))
        if ours.hasattr("dq") and official.hasattr("dq"):
            row.dq = row.exact("DQ", np.asarray(ours.dq), np.asarray(official.dq))
        ny, nx = ours.data.shape
        _same_sky(row, ours.meta.wcs, official.meta.wcs, (ny, nx), max(ny, nx) // 7 or 1)
        for key in _WCSINFO:
            row.keyword(f"wcsinfo.{key}", getattr(ours.meta.wcsinfo, key),
                        getattr(official.meta.wcsinfo, key), rel=1e-9)
        row.keyword("BUNIT", ours.meta.bunit_data, official.meta.bunit_data)
        row.keyword("PIXAR_SR", ours.meta.photometry.pixelarea_steradians,
                    official.meta.photometry.pixelarea_steradians, rel=1e-9)
        row.keyword("resample.pixel_scale_ratio", ours.meta.resample.pixel_scale_ratio,
                    official.meta.resample.pixel_scale_ratio, rel=1e-9)
        for key in ("pixfrac", "kernel", "weight_type", "pointings"):
            row.keyword(f"resample.{key}", getattr(ours.meta.resample, key),
                        getattr(official.meta.resample, key))
        for key in _EXPOSURE_TIMES:
            row.keyword(f"exposure.{key}", getattr(ours.meta.exposure, key),
                        getattr(official.meta.exposure, key))
        for key in ("ASNTABLE", "ASNPOOL"):
            attr = "table_name" if key == "ASNTABLE" else "pool_name"
            row.keyword(key, getattr(ours.meta.asn, attr), getattr(official.meta.asn, attr))


def compare_product(exposure, product, ours_path, official_path, *, notes=()):
    """Compare one product of this project with the official one.

    Parameters
    ----------
    exposure : str
    product : str
        ``cal``, ``calints``, ``bsub``, ``bsubints`` or ``i2d``.
    ours_path, official_path : path
    notes : sequence of str
        Deliberate differences that apply (recorded in the row).

    Returns
    -------
    dict
        A row of :data:`COLUMNS`: ``status`` pass/fail, ``worst`` the array (or
        keyword) furthest beyond its tolerance (when passing: the array closest to it),
        per array the largest relative and absolute difference, DQ/CON mismatches,
        and every problem found.
    """
    row = _Row(exposure, product)
    row.notes = list(notes)
    official_path = Path(official_path)
    if not official_path.is_file():
        row.problems.append((math.inf, product, f"calwebb_image2 made no _{product}"))
    elif product == "i2d":
        _compare_i2d(row, ours_path, official_path)
    else:
        _compare_cal(row, ours_path, official_path,
                     calibrated=product in ("cal", "calints"))
    return row.row()


def compare_exposure(exposure, ours, official_dir):
    """Compare every product of ``exposure`` with the official run in ``official_dir``.

    Parameters
    ----------
    exposure : str
    ours : dict
        product (``cal``/``calints``/``bsub``/``bsubints``/``i2d``) -> path of this
        project's product.
    official_dir : path
        The official run's directory, with its ``official.json`` manifest
        (:func:`snakewebb.official.run_official_image2`).

    Returns
    -------
    list of dict
        One row per product. When the official run was not made (a deliberate
        difference of the inputs) every row is ``excluded``, naming it.
    """
    import json

    manifest_path = Path(official_dir) / "official.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise ExposureError(exposure, f"cannot read the official run's manifest "
                                      f"{manifest_path}: {exc}") from exc
    rows = []
    for product in sorted(ours, key=("bsub", "bsubints", "cal", "calints", "i2d").index):
        if manifest.get("excluded"):
            row = {column: "" for column in COLUMNS}
            row.update(exposure=exposure, product=product, status="excluded",
                       deliberate_differences="; ".join(manifest["excluded"]))
            rows.append(row)
            continue
        official = Path(official_dir) / f"{exposure}_{product}.fits"
        notes = manifest.get("notes", []) if product != "i2d" else []
        rows.append(compare_product(exposure, product, ours[product], official, notes=notes))
        log.info("%s _%s: %s (worst %s)", exposure, product, rows[-1]["status"],
                 rows[-1]["worst"])
    return rows


# ------------------------------------------------------------------ tables

def write_rows(rows, path):
    """Write ``rows`` as a TSV with the :data:`COLUMNS` header, atomically."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, delimiter="\t",
                                    lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({column: row.get(column, "") for column in COLUMNS})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_rows(path):
    """The rows of a TSV written by :func:`write_rows` (list of dict)."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def failure_message(rows):
    """One line naming the failing products of an exposure and their worst array.

    None when every row passes (or is excluded).
    """
    failed = [row for row in rows if row["status"] == "fail"]
    if not failed:
        return None
    parts = []
    for row in failed:
        first = row["problems"].split("; ")[0]
        parts.append(f"_{row['product']} differs from calwebb_image2 {JWST_VERSION}, "
                     f"worst {row['worst']}: {first}")
    return f"{failed[0]['exposure']}: " + "; ".join(parts)
