"""The stage-2 imaging steps, each declared once.

A step's name is also its switch under ``skip:`` in the configuration and its
``skip_<name>`` field of :class:`snakewebb.steps.image2.Image2Options`. The reference
lookup (:data:`snakewebb.references.REFTYPES`), the options, the step layer's order of
calls and the provenance keywords (:data:`snakewebb.steps.provenance.CAL_STEP_NAMES`)
are read from :data:`STEPS`; ``tests/unit/test_registry.py`` checks the config schema's
``skip`` keys against it.

Adding a step: one :class:`Step` here, its module, its ``skip`` key in
``config/config.schema.yaml`` and ``config/config.yaml``, and its tests.

Importing this module costs nothing beyond the standard library: a step's function is
named as ``"module:function"`` and imported only when :meth:`Step.function` is called.
"""

from dataclasses import dataclass
from importlib import import_module

__all__ = [
    "Step",
    "STEPS",
    "IMAGE2_STEPS",
    "REFERENCE_STEPS",
    "REFTYPES",
    "ALL_REFTYPES",
    "CAL_STEP_NAMES",
    "step",
    "skip_option",
    "image2_skip_options",
]

#: How the step layer calls a step's function.
#: ``"members"``: with the exposure's background members (``run(model, paths, options, *,
#: exposure, copy)``), first, inside ``calibrate`` or as its own ``_bsub`` product;
#: ``"refs"``: with the exposure's reference files (``run(model, refs, *, exposure,
#: copy)``), in the order of :data:`STEPS`, inside ``calibrate``;
#: ``"product"``: a product of its own made from the ``_cal`` (``run(cal, output, *,
#: options)``).
KINDS = ("members", "refs", "product")


@dataclass(frozen=True)
class Step:
    """One calwebb_image2 step as this project runs it.

    Attributes
    ----------
    name : str
        Our name for it: the ``skip:`` key of the configuration, the
        ``skip_<name>`` option and the name :func:`provenance.mark_step` takes.
    cal_step : str
        The ``meta.cal_step`` attribute the official products record it under
        (the ``S_*`` keyword).
    kind : str
        How the step layer calls it (see :data:`KINDS`).
    run : str
        ``"module:function"`` that runs it.
    reftypes : tuple of str
        CRDS reference types it uses: looked up (inputs of the job) unless it is skipped.
    na_reftypes : tuple of str
        Types the official step also asks CRDS for, N/A for every imaging mode:
        recorded as ``N/A`` (``R_*`` keywords) when the step runs, as official
        products do.
    """

    name: str
    cal_step: str
    kind: str
    run: str
    reftypes: tuple = ()
    na_reftypes: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"step {self.name}: kind {self.kind!r} is not one of {KINDS}")

    def function(self):
        """The function that runs the step (imported now, not when the registry is)."""
        module, _, name = self.run.partition(":")
        return getattr(import_module(module), name)


#: Every step, in the official order (calwebb_image2's ``step_defs``).
STEPS = (
    Step("background", "bkg_subtract", "members",
         "snakewebb.steps.background:run_background"),
    Step("assign_wcs", "assign_wcs", "refs",
         "snakewebb.steps.assign_wcs:run_assign_wcs",
         reftypes=("distortion", "filteroffset"),
         na_reftypes=("specwcs", "regions", "wavelengthrange", "camera", "chromcorr",
                      "collimator", "disperser", "fore", "fpa", "msa", "ote", "ifupost",
                      "ifufore", "ifuslicer")),
    Step("flat_field", "flat_field", "refs",
         "snakewebb.steps.flat_field:run_flat_field",
         reftypes=("flat",),
         na_reftypes=("fflat", "sflat", "dflat")),
    Step("photom", "photom", "refs",
         "snakewebb.steps.photom:run_photom",
         reftypes=("photom", "area")),
    Step("resample", "resample", "product",
         "snakewebb.steps.resample:resample_exposure"),
)

_BY_NAME = {s.name: s for s in STEPS}

#: The steps of a ``_cal`` product (``calibrate``): those with a ``skip_<name>`` option.
IMAGE2_STEPS = tuple(s for s in STEPS if s.kind in ("members", "refs"))

#: The steps run on the model with its reference files, in order.
REFERENCE_STEPS = tuple(s for s in STEPS if s.kind == "refs")

#: Reference types each step that uses any looks up.
REFTYPES = {s.name: s.reftypes for s in STEPS if s.reftypes}

#: Every reference type of :data:`REFTYPES`, in step order.
ALL_REFTYPES = tuple(t for types in REFTYPES.values() for t in types)

#: Our step names -> the ``meta.cal_step`` attribute the official products use.
CAL_STEP_NAMES = {s.name: s.cal_step for s in STEPS}


def step(name):
    """The :class:`Step` called ``name``.

    Raises
    ------
    KeyError
        No such step (the message lists the known ones).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no step {name!r} (steps: {', '.join(_BY_NAME)})") from None


def skip_option(name):
    """The :class:`~snakewebb.steps.image2.Image2Options` field that skips step ``name``."""
    return f"skip_{step(name).name}"


def image2_skip_options(skip):
    """``{"skip_background": bool, ...}`` for the ``_cal`` steps from the config's ``skip:``.

    Steps missing from ``skip`` are not skipped.
    """
    return {skip_option(s.name): bool(skip.get(s.name, False)) for s in IMAGE2_STEPS}
