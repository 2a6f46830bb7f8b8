"""A local CRDS cache that the real ``crds`` client serves with no server at all.

Layout (what ``crds`` expects under ``CRDS_PATH``)::

    mappings/jwst/jwst_0001.pmap, jwst_<instr>_0001.imap, jwst_<instr>_<type>_0001.rmap
    references/jwst/<instrument>/jwst_<instr>_<type>_<NNNN>.fits|.asdf
    config/jwst/server_config          (Python dict literal: operational context, ...)
    config/jwst/ref_cache_subdir_mode  ("instrument")

Two contexts are written, like two real CRDS deliveries: ``jwst_0001.pmap``,
and ``jwst_0002.pmap`` which differs only by a new FLAT for one
detector/filter (new flat rmap, new imap for that instrument, new pmap; every
other mapping is shared).

The rmaps select on the keywords the real JWST imaging rmaps use (EXP_TYPE,
DETECTOR, FILTER, PUPIL for flats; EXP_TYPE, DETECTOR for the others) with a
USEAFTER on DATE-OBS/TIME-OBS. Every reftype a calwebb_image2 step asks CRDS
for is in each imap, either as an rmap or as ``N/A``, so the official steps
never fail on an unknown type.
"""

import logging
import os
import pprint
import tempfile
from collections import defaultdict
from pathlib import Path

from snakewebb.simulate import reffiles

__all__ = [
    "write_crds_cache",
    "IMAGE2_REFTYPES",
    "PARKEYS",
    "new_flat_key",
]

log = logging.getLogger(__name__)

#: Every reftype the calwebb_image2 steps (background, assign_wcs, flat_field,
#: photom, resample) declare in jwst 3.0.0; each imap lists all of them.
IMAGE2_REFTYPES = (
    "area", "bkg", "camera", "chromcorr", "collimator", "dflat", "disperser",
    "distortion", "fflat", "filteroffset", "flat", "fore", "fpa", "ifufore",
    "ifupost", "ifuslicer", "msa", "ote", "photom", "regions", "sflat",
    "specwcs", "wavelengthrange",
)

_DATE_KEYS = ("META.OBSERVATION.DATE", "META.OBSERVATION.TIME")
_EXP = "META.EXPOSURE.TYPE"
_DET = "META.INSTRUMENT.DETECTOR"
_FILT = "META.INSTRUMENT.FILTER"
_PUP = "META.INSTRUMENT.PUPIL"

#: Match parkeys of the rmaps written, per (instrument, reftype).
PARKEYS = {
    ("NIRCAM", "flat"): (_EXP, _DET, _FILT, _PUP),
    ("NIRISS", "flat"): (_EXP, _DET, _FILT, _PUP),
    ("MIRI", "flat"): (_EXP, _DET, _FILT),
    ("FGS", "flat"): (_EXP, _DET),
}
for _inst in ("NIRCAM", "MIRI", "NIRISS", "FGS"):
    for _rt in ("photom", "area", "distortion", "filteroffset"):
        PARKEYS[(_inst, _rt)] = (_EXP, _DET)
del _inst, _rt
PARKEYS.pop(("FGS", "filteroffset"))

_DESCR = {
    "flat": "Pixel-to-pixel flat field",
    "photom": "Photometric calibration",
    "area": "Pixel area map",
    "distortion": "Distortion (science pixels to V2/V3)",
    "filteroffset": "Filter-dependent pixel offsets",
}
_EXT = {"distortion": ".asdf", "filteroffset": ".asdf"}
_USEAFTER = reffiles.USEAFTER.replace("T", " ")
_DERIVED = "snakewebb simulated delivery"


def _checksum(text):
    """The mapping checksum exactly as crds computes it (sha1sum line excluded)."""
    from crds.core import utils

    return utils.str_checksum(
        "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    )


def _with_checksum(text):
    return text.replace("'sha1sum' : 'PENDING'", f"'sha1sum' : '{_checksum(text)}'")


def _header(items):
    lines = ["header = {"]
    for key in sorted(items):
        lines.append(f"    {key!r} : {items[key]!r},")
    lines.append("}")
    return "\n".join(lines)


def _atomic_write_text(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_save_model(model, path):
    """Save ``model`` at ``path`` (FITS or ASDF by extension) with no half-written file.

    It is validated against its schema once (the builders skip validation at every
    assignment), written under its final name in a private temporary directory beside
    ``path`` (so FILENAME inside is right) and moved into place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".part-", dir=path.parent))
    try:
        model.validate()
        model.save(str(tmpdir / path.name))
        os.replace(tmpdir / path.name, path)
    finally:
        model.close()
        for leftover in tmpdir.iterdir():
            leftover.unlink()
        tmpdir.rmdir()
    return path


def _rmap_text(instrument, reftype, name, entries):
    """Rmap text; ``entries`` maps a match tuple to a reference file name."""
    header = {
        "classes": ("Match", "UseAfter"),
        "derived_from": _DERIVED,
        "file_ext": _EXT.get(reftype, ".fits"),
        "filekind": reftype.upper(),
        "filetype": reftype.upper(),
        "instrument": instrument,
        "mapping": "REFERENCE",
        "name": name,
        "observatory": "JWST",
        "parkey": (PARKEYS[(instrument, reftype)], _DATE_KEYS),
        "sha1sum": "PENDING",
        "suffix": reftype,
        "text_descr": _DESCR[reftype],
    }
    body = ["selector = Match({"]
    for key in sorted(entries):
        body.append(f"    {key!r} : UseAfter({{")
        body.append(f"        {_USEAFTER!r} : {entries[key]!r},")
        body.append("    }),")
    body.append("})")
    return _with_checksum(_header(header) + "\n\n" + "\n".join(body) + "\n")


def _imap_text(instrument, name, rmaps):
    header = {
        "derived_from": _DERIVED,
        "instrument": instrument,
        "mapping": "INSTRUMENT",
        "name": name,
        "observatory": "JWST",
        "parkey": ("REFTYPE",),
        "sha1sum": "PENDING",
    }
    return _dict_mapping_text(header, {t: rmaps.get(t, "N/A") for t in IMAGE2_REFTYPES})


def _pmap_text(name, imaps):
    header = {
        "derived_from": _DERIVED,
        "mapping": "PIPELINE",
        "name": name,
        "observatory": "JWST",
        "parkey": ("META.INSTRUMENT.NAME",),
        "sha1sum": "PENDING",
    }
    return _dict_mapping_text(header, imaps)


def _dict_mapping_text(header, selector):
    """Text of a pmap/imap: its header and a plain ``{key: mapping name}`` selector."""
    body = ["selector = {"]
    body += [f"    {key!r} : {selector[key]!r}," for key in sorted(selector)]
    body.append("}")
    return _with_checksum(_header(header) + "\n\n" + "\n".join(body) + "\n")


def _server_config(contexts):
    import crds

    latest = contexts[-1]
    return {
        "observatory": "jwst",
        "operational_context": latest,
        "edit_context": latest,
        "versions_context": latest,
        "last_synced": "2025-01-01 00:00:00",
        "bad_files": "",
        "bad_files_list": [],
        "force_remote_mode": False,
        "crds_version": {"str": crds.__version__},
        "reference_url": {"checked": {"jwst": "file:///"}, "unchecked": {"jwst": "file:///"}},
        "mapping_url": {"checked": {"jwst": "file:///"}, "unchecked": {"jwst": "file:///"}},
        "download_metadata": {},
        "status": "cache",
        "connected": False,
    }


def _exp_pattern(instrument):
    return "|".join(reffiles.IMAGING_EXP_TYPES[instrument])


def _flat_key(instrument, detector, filter, pupil):
    exp = _exp_pattern(instrument)
    if instrument in ("NIRCAM", "NIRISS"):
        return (exp, detector, filter, pupil or "N/A")
    if instrument == "MIRI":
        return (exp, detector, filter)
    return (exp, detector)


def new_flat_key(specs):
    """(instrument, detector, filter, pupil) whose FLAT the second context replaces.

    The first NIRCam short-wave science spec if there is one, else the first
    science spec.
    """
    science = [s for s in specs if s.role == "science"] or list(specs)
    sw = [s for s in science if s.instrument.upper() == "NIRCAM"
          and reffiles.detector_info(s.detector).channel == "SHORT"]
    s = (sw or science)[0]
    return s.instrument.upper(), s.detector.upper(), s.filter, s.pupil


def _check_spec(spec):
    info = reffiles.detector_info(spec.detector)  # KeyError for unknown detectors
    if info.instrument != spec.instrument.upper():
        raise ValueError(
            f"{spec.name}: detector {spec.detector} is not on instrument {spec.instrument}"
        )
    types = reffiles.IMAGING_EXP_TYPES[info.instrument]
    if spec.exp_type not in types:
        raise ValueError(
            f"{spec.name}: unsupported EXP_TYPE {spec.exp_type} for {info.instrument} "
            f"(supported: {', '.join(types)})"
        )
    return info


def write_crds_cache(root, specs, *, seed=0):
    """Write a serverless-usable CRDS cache under ``root`` for the exposures in ``specs``.

    Parameters
    ----------
    root : str or Path
        The cache directory (what ``CRDS_PATH`` will point to).
    specs : list of ExposureSpec
        Simulated exposures; the cache holds FLAT, PHOTOM, AREA, DISTORTION and
        FILTEROFFSET references for every detector/filter/pupil/subarray used.
    seed : int
        Seed of the reference content (deterministic).

    Returns
    -------
    list of str
        Context names, oldest first: ``["jwst_0001.pmap", "jwst_0002.pmap"]``.
    """
    specs = list(specs)
    if not specs:
        raise ValueError("write_crds_cache needs at least one exposure spec")
    root = Path(root)
    mapdir = root / "mappings" / "jwst"
    refroot = root / "references" / "jwst"
    cfgdir = root / "config" / "jwst"

    detectors = {}                                  # detector -> instrument
    flats = {}                                      # flat key -> (det, filter, pupil)
    photom_combos = defaultdict(list)               # detector -> [(filter, pupil, subarray)]
    filter_combos = defaultdict(list)               # detector -> [(filter, pupil)]
    for spec in specs:
        info = _check_spec(spec)
        det = info.detector
        detectors[det] = info.instrument
        key = _flat_key(info.instrument, det, spec.filter, spec.pupil)
        flats.setdefault(key, (det, spec.filter, spec.pupil))
        if info.instrument == "MIRI":
            combo = (spec.filter, None, spec.subarray)
        else:
            combo = (spec.filter, spec.pupil, None)
        if combo not in photom_combos[det]:
            photom_combos[det].append(combo)
        if (spec.filter, spec.pupil) not in filter_combos[det]:
            filter_combos[det].append((spec.filter, spec.pupil))

    counters = defaultdict(int)

    def ref_name(instrument, reftype):
        counters[(instrument, reftype)] += 1
        ext = _EXT.get(reftype, ".fits")
        return f"jwst_{instrument.lower()}_{reftype}_{counters[(instrument, reftype)]:04d}{ext}"

    def save(instrument, reftype, model):
        name = ref_name(instrument, reftype)
        _atomic_save_model(model, refroot / instrument.lower() / name)
        return name

    # entries[(instrument, reftype)][match tuple] = reference file name
    entries = defaultdict(dict)
    for key, (det, filt, pupil) in sorted(flats.items()):
        inst = detectors[det]
        entries[(inst, "flat")][key] = save(
            inst, "flat", reffiles.make_flat(det, filt, pupil, seed=seed))
    for det, inst in sorted(detectors.items()):
        dkey = (_exp_pattern(inst), det)
        entries[(inst, "photom")][dkey] = save(
            inst, "photom", reffiles.make_photom(det, photom_combos[det], seed=seed))
        entries[(inst, "area")][dkey] = save(inst, "area", reffiles.make_area(det, seed=seed))
        entries[(inst, "distortion")][dkey] = save(
            inst, "distortion", reffiles.make_distortion(det, seed=seed))
        if inst != "FGS":
            combos = reffiles.standard_filters(det) + filter_combos[det]
            entries[(inst, "filteroffset")][dkey] = save(
                inst, "filteroffset", reffiles.make_filteroffset(det, combos, seed=seed))

    def rmap_name(inst, reftype, version):
        return f"jwst_{inst.lower()}_{reftype}_{version:04d}.rmap"

    def imap_name(inst, version):
        return f"jwst_{inst.lower()}_{version:04d}.imap"

    # Context 1.
    imaps = {}
    for inst in sorted(set(detectors.values())):
        rmaps = {}
        for (i, reftype), sel in sorted(entries.items()):
            if i != inst:
                continue
            name = rmap_name(inst, reftype, 1)
            _atomic_write_text(mapdir / name, _rmap_text(inst, reftype, name, sel))
            rmaps[reftype] = name
        imaps[inst] = (imap_name(inst, 1), rmaps)
        _atomic_write_text(mapdir / imaps[inst][0], _imap_text(inst, imaps[inst][0], rmaps))
    contexts = ["jwst_0001.pmap"]
    _atomic_write_text(mapdir / contexts[0],
                       _pmap_text(contexts[0], {i: n for i, (n, _r) in imaps.items()}))

    # Context 2: a new FLAT for one detector/filter, as a real delivery would bring.
    inst, det, filt, pupil = new_flat_key(specs)
    key = _flat_key(inst, det, filt, pupil)
    flat_entries = dict(entries[(inst, "flat")])
    flat_entries[key] = save(inst, "flat", reffiles.make_flat(det, filt, pupil, seed=seed,
                                                              version=2))
    new_rmap = rmap_name(inst, "flat", 2)
    _atomic_write_text(mapdir / new_rmap, _rmap_text(inst, "flat", new_rmap, flat_entries))
    rmaps = dict(imaps[inst][1], flat=new_rmap)
    new_imap = imap_name(inst, 2)
    _atomic_write_text(mapdir / new_imap, _imap_text(inst, new_imap, rmaps))
    pmap_entries = {i: n for i, (n, _r) in imaps.items()}
    pmap_entries[inst] = new_imap
    contexts.append("jwst_0002.pmap")
    _atomic_write_text(mapdir / contexts[1], _pmap_text(contexts[1], pmap_entries))

    _atomic_write_text(cfgdir / "server_config", pprint.pformat(_server_config(contexts)) + "\n")
    _atomic_write_text(cfgdir / "ref_cache_subdir_mode", "instrument\n")
    log.info("wrote CRDS cache %s (%s): %d references", root, ", ".join(contexts),
             sum(counters.values()))
    return contexts
