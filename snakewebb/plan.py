"""The campaign plan: what the workflow does for each exposure, as data.

:func:`build_plan` turns the validated configuration into a :class:`Plan` in one
call: one immutable :class:`ExposurePlan` per exposure (its science and background
files, product suffixes, reference files, whether it subtracts a background or is
resampled, the options its jobs get) and one record per problem found while
planning (an unreadable ``_rate``, an unsupported EXP_TYPE, a missing ASN member,
a reference CRDS cannot give, a malformed ASN file, ...). ``rules/common.smk``
only wires this into Snakemake; nothing here imports Snakemake, so the plan is
unit-tested like any function.

A problem is kept to the exposure (or the ASN file) it concerns: the others are
planned as usual, and the workflow turns each problem into a job of its own that
fails with the problem's one line (``on_plan_error: job``, the default), or stops
before any job with every problem listed (``on_plan_error: fail``).
"""

import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from snakewebb import exposures, references, resources
from snakewebb.checksums import reference_checksum_problems
from snakewebb.errors import ReferenceLookupError, SnakewebbError
from snakewebb.exposures import Problem
from snakewebb.references import CrdsSettings

__all__ = [
    "CrdsSettings",
    "ExposurePlan",
    "Plan",
    "PlanError",
    "Problem",
    "DEMO_CRDS_PATH",
    "crds_settings",
    "build_plan",
    "problem_table",
]

log = logging.getLogger(__name__)

#: The cache ``make demo`` writes, used when neither the config nor CRDS_PATH names one.
DEMO_CRDS_PATH = "demo/crds"


class PlanError(SnakewebbError):
    """The campaign cannot be planned, or a job asks for a product the plan does not make.

    Planning fails as a whole only for what no exposure can do without (no CRDS cache,
    an unknown context, ...).
    """


# ------------------------------------------------------------------------- CRDS

def crds_settings(config, environ=None, *, demo_path=DEMO_CRDS_PATH):
    """The CRDS settings of a campaign: config, else the environment, else the demo cache.

    Resolved once (:func:`snakewebb.references.resolve_crds`): the context named, else
    the one the cache's ``server_config`` calls operational (what ``crds`` itself uses
    offline), else the cache's newest ``.pmap``. Nothing is written to the environment.

    Parameters
    ----------
    config : dict
        The validated workflow configuration (``crds_path``, ``crds_context``).
    environ : mapping, optional
        The environment, read here and nowhere else (default ``os.environ``).
    demo_path : str
        The demo cache, used when neither names a cache and it exists.

    Returns
    -------
    snakewebb.references.CrdsSettings

    Raises
    ------
    PlanError
        No cache is named and the demo cache is absent.
    SnakewebbError
        The cache is not one, or lacks the context named.
    """
    environ = os.environ if environ is None else environ
    path = config.get("crds_path") or environ.get("CRDS_PATH")
    if not path:
        if not Path(demo_path, "mappings", "jwst").is_dir():
            raise PlanError(
                "no CRDS cache: set CRDS_PATH (or --config crds_path=...); the demo "
                f"cache {demo_path} is not in this directory (make demo writes it)"
            )
        path = demo_path
    context = config.get("crds_context") or environ.get("CRDS_CONTEXT") or None
    return references.resolve_crds(str(path), context, environ=environ)


# --------------------------------------------------------------------- records

@dataclass(frozen=True, slots=True)
class ExposurePlan:
    """Everything the workflow does with one exposure (or why it cannot).

    A record with a ``problem`` is planned as nothing but a failing job; its other
    fields are what was known before the problem was found (``science`` is None
    for an unusable ASN file, whose record is named after the file).
    """

    name: str
    asn: str | None = None                 # the ASN file (absolute path)
    asn_pool: str | None = None
    science: str | None = None
    backgrounds: tuple = ()
    cal_suffix: str = "cal"                # cal | calints
    bsub_suffix: str = "bsub"              # bsub | bsubints
    subtracts_background: bool = False     # background members, not TSO, not skipped
    resampled: bool = False                # an _i2d is made
    refs: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    problem: str | None = None             # one line, "<name>: <cause>"
    #: what the exposure is, for reports and resource estimates: instrument, detector,
    #: exp_type, filter, pupil, subarray (None where absent), nints, is_cube, tso
    mode: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def asn_names(self):
        """The ASN file name and pool its products record (ASNTABLE/ASNPOOL)."""
        return {"table": os.path.basename(self.asn) if self.asn else None,
                "pool": self.asn_pool}


@dataclass(frozen=True)
class Plan:
    """The whole campaign: records by name, the options of each rule, the CRDS settings."""

    records: MappingProxyType              # name -> ExposurePlan (problems included)
    crds: CrdsSettings
    output_dir: str
    save_bsub: bool
    image2_options: MappingProxyType       # calibrate params when it subtracts a background
    resample_options: MappingProxyType

    @property
    def exposures(self):
        """Names of the exposures that are planned (no problem), in campaign order."""
        return [name for name, rec in self.records.items() if rec.problem is None]

    @property
    def problems(self):
        """The records that carry a planning problem."""
        return [rec for rec in self.records.values() if rec.problem is not None]

    def product(self, name, suffix):
        """Path of exposure ``name``'s product with ``suffix`` in the output directory."""
        return f"{self.output_dir}/{name}_{suffix}.fits"

    def cal_files(self):
        """The ``_cal``/``_calints`` of every exposure without a problem."""
        return [self.product(n, r.cal_suffix) for n, r in self.records.items()
                if r.problem is None]

    def i2d_files(self):
        """The ``_i2d`` of every resampled exposure without a problem."""
        return [self.product(n, "i2d") for n, r in self.records.items()
                if r.problem is None and r.resampled]

    def bsub_files(self):
        """The ``_bsub``/``_bsubints`` of every exposure that subtracts a background."""
        return [self.product(n, r.bsub_suffix) for n, r in self.records.items()
                if r.problem is None and r.subtracts_background]

    def problem_files(self):
        """One target per problem, made by the job that fails with it."""
        return [f"{self.output_dir}/.snakewebb/problems/{name}" for name in self.records
                if self.records[name].problem is not None]

    def priority(self, name, rule):
        """Scheduling priority of ``rule``'s job for exposure ``name`` (higher first).

        With fewer cores than ready jobs, the order decides how long the last core
        waits alone: a calibrate job that unlocks a resample (a chain of two jobs) goes
        before one whose product is final (TSO, cubes, FGS), and a ready resample before
        both, so the short unchained jobs fill the cores at the end of the campaign.
        """
        rec = self.records[name]
        if rule == "resample_exposure":
            return 3
        if rule == "subtract_background" or rec.resampled:
            return 2
        return 1

    # What each rule's job reads, by exposure (the workflow's input functions). A product
    # the plan does not make is a one-line PlanError naming the exposure.

    def record(self, name, what):
        """The record of exposure ``name``, planned and without a problem.

        ``what`` names the product asked for, for the error.
        """
        rec = self.records.get(name)
        if rec is None:
            raise PlanError(f"{name}: not an exposure of the campaign's ASN files "
                            f"(asked for its {what})")
        if rec.problem is not None:
            raise PlanError(rec.problem)
        return rec

    def cal_inputs(self, name, cal_suffix):
        """The calibrate job's inputs.

        Science (or its _bsub with save_bsub), background members where it subtracts
        them, and the reference files by type.
        """
        rec = self.record(name, f"_{cal_suffix}")
        if cal_suffix != rec.cal_suffix:
            raise PlanError(f"{name}: its calibrated product is _{rec.cal_suffix}, "
                            f"not _{cal_suffix}")
        inputs = dict(rec.refs)
        if rec.subtracts_background and self.save_bsub:
            inputs["science"] = self.product(name, rec.bsub_suffix)
        else:
            inputs["science"] = rec.science
            if rec.subtracts_background:
                inputs["backgrounds"] = list(rec.backgrounds)
        return inputs

    def calibrate_params(self, name, cal_suffix):
        """The calibrate job's options (:meth:`cal_options` of its record)."""
        return self.cal_options(self.record(name, f"_{cal_suffix}"))

    def bsub_inputs(self, name, bsub_suffix):
        """The subtract_background job's inputs: science and background members."""
        rec = self.record(name, f"_{bsub_suffix}")
        if not rec.subtracts_background or bsub_suffix != rec.bsub_suffix:
            raise PlanError(f"{name}: no _{bsub_suffix} product (background subtraction "
                            "does not run for it)")
        return {"science": rec.science, "backgrounds": list(rec.backgrounds)}

    def resample_inputs(self, name):
        """The resample_exposure job's input: the exposure's _cal."""
        rec = self.record(name, "_i2d")
        if not rec.resampled:
            raise PlanError(f"{name}: no _i2d (not resampled: TSO, cube or skipped)")
        return {"cal": self.product(name, "cal")}

    def job_resources(self, name, rule, attempt=1):
        """``{"mem_mb", "runtime"}`` of ``rule``'s job on exposure ``name``.

        From the exposure's size (:mod:`snakewebb.resources`); a retry (``attempt`` 2,
        3...) asks for more memory.
        """
        mode = self.records[name].mode
        pixels = resources.science_pixels(
            mode.get("instrument"), mode.get("subarray"),
            is_cube=bool(mode.get("is_cube")), nints=mode.get("nints"))
        return {"mem_mb": resources.job_memory_mb(rule, pixels, attempt=attempt),
                "runtime": resources.job_runtime_min(rule, pixels)}

    def background_options(self):
        """subtract_background's params: only what it uses (skipping photom reruns none)."""
        return {key: self.image2_options[key]
                for key in ("tso_exp_types", "bkg_sigma", "bkg_maxiters")}

    def cal_options(self, rec):
        """A calibrate job's params.

        The background settings only where it subtracts one, so that changing them reruns
        only those exposures.
        """
        options = dict(self.image2_options)
        if rec.subtracts_background and not self.save_bsub:
            return options
        for key in ("tso_exp_types", "skip_background", "bkg_sigma", "bkg_maxiters"):
            del options[key]
        return options


def _image2_options(config):
    skip = config["skip"]
    return {
        "tso_exp_types": list(config["tso_exp_types"]),
        "skip_background": skip["background"],
        "skip_assign_wcs": skip["assign_wcs"],
        "skip_flat_field": skip["flat_field"],
        "skip_photom": skip["photom"],
        "bkg_sigma": config["background"]["sigma"],
        "bkg_maxiters": config["background"]["maxiters"],
    }


def _used_reftypes(skip):
    """Reference types of the calibrate steps not skipped: only those are job inputs."""
    return tuple(reftype for step, reftypes in references.REFTYPES.items()
                 if not skip.get(step, False) for reftype in reftypes)


def _unit_name(asn, taken):
    """Record name of an unusable ASN file: its file name (made unique)."""
    name = os.path.basename(asn)
    number = 1
    while name in taken:
        number += 1
        name = f"{os.path.basename(asn)}.{number}"
    return name


def _check_writable(directory):
    """Every job writes here: refuse a directory that cannot be written at all."""
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".snakewebb-probe.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PlanError(f"output directory {directory} cannot be written: "
                        f"{err.strerror or err}") from None


MODE_COLUMNS = ("instrument", "detector", "exp_type", "filter", "pupil", "subarray",
                "nints", "is_cube", "tso")


def _plain(value):
    """A table cell as a plain Python value; None for a missing one (None or NaN)."""
    if value is None or value != value:
        return None
    return value.item() if hasattr(value, "item") else value


def _modes(table):
    """Per exposure, its :data:`MODE_COLUMNS` from the exposure table (None for NaN)."""
    present = [c for c in MODE_COLUMNS if c in table.columns]
    return {
        name: MappingProxyType({c: _plain(v) for c, v in zip(present, row)})
        for name, row in zip(table.index, table[present].itertuples(index=False))
    }


def build_plan(config, *, environ=None, cache_dir=None, trust_cache=False):
    """Plan a campaign from its validated configuration.

    Parameters
    ----------
    config : dict
        The configuration after schema validation with defaults (``asn``,
        ``output_dir``, ``crds_path``, ``crds_context``, ``save_bsub``,
        ``tso_exp_types``, ``skip``, ``background``, ``resample``).
    environ : mapping, optional
        Where CRDS_PATH / CRDS_CONTEXT / CRDS_SERVER_URL are read (default
        ``os.environ``); nothing is written there.
    cache_dir : path, optional
        Directory of the exposure-table and reference caches (default
        ``<output_dir>/.snakewebb``).
    trust_cache : bool
        Passed to :func:`snakewebb.exposures.exposure_table` (job processes).

    Returns
    -------
    Plan

    Raises
    ------
    SnakewebbError
        What no exposure can be planned without: an ASN pattern matching nothing,
        no CRDS cache, a context the cache lacks.
    """
    out = str(config["output_dir"]).rstrip("/") or "."
    cache_dir = os.path.join(out, ".snakewebb") if cache_dir is None else cache_dir
    skip = config["skip"]
    patterns = config["asn"]
    if isinstance(patterns, str):
        patterns = [patterns]

    _check_writable(out)
    found = []
    table = exposures.exposure_table(
        patterns, cache_dir=cache_dir, tso_exp_types=tuple(config["tso_exp_types"]),
        trust_cache=trust_cache, problems=found)
    crds = crds_settings(config, environ)
    ref_problems = {}
    refs = exposures.exposure_references(
        table, _used_reftypes(skip), crds=crds, cache_dir=cache_dir,
        lookup=references.best_references_table, problems=ref_problems)

    damaged = reference_checksum_problems(
        [path for paths in refs.values() for path in paths.values()], cache_dir)
    for name, paths in refs.items():
        for reftype, path in paths.items():
            if path in damaged and name not in ref_problems:
                ref_problems[name] = ReferenceLookupError(
                    name, reftype, f"{os.path.basename(path)} in the CRDS cache: "
                                   f"{damaged[path]}")

    # no _i2d without a WCS: skipping assign_wcs skips resample too (the official
    # pipeline fails in its resample step then)
    resampling = not (skip["resample"] or skip["assign_wcs"])
    records = {}
    modes_of = _modes(table)
    for name, asn, pool, science, backgrounds, cal, bsub, bkg, resample in zip(
            table.index, table["asn"], table["asn_pool"], table["science"],
            table["backgrounds"], table["suffix"], table["bsub_suffix"],
            table["background"], table["resample"]):
        err = ref_problems.get(name)
        records[name] = ExposurePlan(
            mode=modes_of[name],
            name=name, asn=asn, asn_pool=pool, science=science,
            backgrounds=tuple(backgrounds), cal_suffix=cal, bsub_suffix=bsub,
            subtracts_background=bool(bkg) and not skip["background"] and err is None,
            resampled=bool(resample) and resampling and err is None,
            refs=MappingProxyType(refs.get(name, {})),
            problem=None if err is None else str(err))
    for problem in found:
        name = problem.exposure or _unit_name(problem.asn, records)
        if name in records and records[name].problem is None:
            records[name] = replace(records[name], problem=problem.message,
                                    subtracts_background=False, resampled=False)
        elif name not in records:
            records[name] = ExposurePlan(name=name, asn=problem.asn, problem=problem.message)
    return Plan(
        records=MappingProxyType(records), crds=crds, output_dir=out,
        save_bsub=bool(config["save_bsub"]),
        image2_options=MappingProxyType(_image2_options(config)),
        resample_options=MappingProxyType(dict(config["resample"])),
    )


def problem_table(records):
    """The planning problems as a text table (exposure, ASN, problem), one line each.

    A whole ASN file's problem shows ``-`` as exposure.
    """
    rows = []
    for rec in records:
        asn = str(rec.asn) if rec.asn else ""
        if asn and rec.problem.startswith(asn + ": "):
            exposure, cause = "-", rec.problem[len(asn) + 2:]
        else:
            exposure, cause = rec.name, rec.problem.removeprefix(rec.name + ": ")
        rows.append((exposure, os.path.basename(asn) or "-", cause))
    widths = [max(len(row[i]) for row in [("exposure", "ASN"), *rows]) for i in range(2)]
    lines = [f"{'exposure':{widths[0]}}  {'ASN':{widths[1]}}  problem"]
    lines += [f"{a:{widths[0]}}  {b:{widths[1]}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
