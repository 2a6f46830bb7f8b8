"""CRDS best references for stage-2 imaging, from a local cache, offline by default.

The lookup honours the variables JWST users already set: ``CRDS_PATH`` (the
cache), ``CRDS_CONTEXT`` (the pipeline mapping, e.g. ``jwst_0002.pmap``) and
``CRDS_SERVER_URL``. With no server given, CRDS runs in serverless mode
(``CRDS_MODE=local``): every answer comes from the cache and no request leaves
the machine.

They are read once, by :func:`resolve_crds`, into a :class:`CrdsSettings` that every
lookup takes. crds itself reads its settings from the process environment, so they are
set there only around crds's own calls (:meth:`CrdsSettings.applied`) and put back.

``crds`` is imported inside the functions that need it, so importing this
module stays cheap.
"""

import contextlib
import io
import logging
import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from snakewebb import registry
from snakewebb.errors import ReferenceLookupError, SnakewebbError

__all__ = [
    "REFTYPES",
    "ALL_REFTYPES",
    "SERVERLESS_URL",
    "DATAMODEL_PATHS",
    "CrdsSettings",
    "resolve_crds",
    "matching_parameters",
    "best_references",
    "best_references_table",
    "useafter_dates",
]

log = logging.getLogger(__name__)

#: Reference types each of our steps uses (declared in :mod:`snakewebb.registry`).
REFTYPES = registry.REFTYPES

#: Every reference type of :data:`REFTYPES`, in step order.
ALL_REFTYPES = registry.ALL_REFTYPES

#: Any CRDS server URL containing "serverless" makes the client work from the cache only.
SERVERLESS_URL = "https://jwst-serverless-mode.stsci.edu"

#: FITS keyword -> the datamodel path CRDS (and the JWST rmaps) select on.
DATAMODEL_PATHS = {
    "TELESCOP": "META.TELESCOPE",
    "INSTRUME": "META.INSTRUMENT.NAME",
    "DETECTOR": "META.INSTRUMENT.DETECTOR",
    "FILTER": "META.INSTRUMENT.FILTER",
    "PUPIL": "META.INSTRUMENT.PUPIL",
    "CHANNEL": "META.INSTRUMENT.CHANNEL",
    "MODULE": "META.INSTRUMENT.MODULE",
    "BAND": "META.INSTRUMENT.BAND",
    "EXP_TYPE": "META.EXPOSURE.TYPE",
    "READPATT": "META.EXPOSURE.READPATT",
    "SUBARRAY": "META.SUBARRAY.NAME",
    "DATE-OBS": "META.OBSERVATION.DATE",
    "TIME-OBS": "META.OBSERVATION.TIME",
    # Selectors real JWST rmaps use besides the above (crds/jwst/specs): TSO, visit
    # type, crowded field, coronagraph, readout and lamp. Each lookup passes CRDS only
    # the parkeys its context requires (see _required_parkeys).
    "TSOVISIT": "META.VISIT.TSOVISIT",
    "VISITYPE": "META.VISIT.TYPE",
    "CROWDFLD": "META.VISIT.CROWDED_FIELD",
    "CORONMSK": "META.INSTRUMENT.CORONAGRAPH",
    "NGROUPS": "META.EXPOSURE.NGROUPS",
    "NOUTPUTS": "META.EXPOSURE.NOUTPUTS",
    "LAMP": "META.INSTRUMENT.LAMP_STATE",
}
_PATHS = {path: kw for kw, path in DATAMODEL_PATHS.items()}
# Spellings accepted as column names / dict keys besides the FITS keyword and path.
_ALIASES = {
    "INSTRUMENT": "INSTRUME", "DATE_OBS": "DATE-OBS", "TIME_OBS": "TIME-OBS",
    "TELESCOPE": "TELESCOP",
}


def _mappings_dir(crds_path):
    return Path(crds_path) / "mappings" / "jwst"


#: Symbolic context names (as CRDS_CONTEXT may give them) -> their server_config key.
SYMBOLIC_CONTEXTS = {"jwst-operational": "operational_context", "jwst-edit": "edit_context"}


def _operational_context(crds_path, key="operational_context"):
    """The context the cache's server_config names (under ``key``), else its newest pmap."""
    import ast

    config = Path(crds_path) / "config" / "jwst" / "server_config"
    if config.is_file():
        try:
            info = ast.literal_eval(config.read_text())
            if info.get(key):
                return info[key]
        except (ValueError, SyntaxError):
            log.warning("unreadable %s; using the newest pmap", config)
    pmaps = sorted(_mappings_dir(crds_path).glob("jwst_*.pmap"))
    if not pmaps:
        raise SnakewebbError(f"CRDS cache {crds_path} holds no JWST context (*.pmap)")
    return pmaps[-1].name


#: The settings crds reads from os.environ that :meth:`CrdsSettings.applied` sets.
CRDS_VARIABLES = ("CRDS_PATH", "CRDS_CONTEXT", "CRDS_SERVER_URL", "CRDS_MODE",
                  "CRDS_OBSERVATORY", "CRDS_CLIENT_TIMEOUT_SECONDS")

#: Variables by which crds would take mappings, references or its configuration from
#: elsewhere than the cache's own layout (crds.core.config): unset while crds works here.
CRDS_PATH_OVERRIDES = tuple(
    f"CRDS_{kind}PATH{single}" for kind in ("", "MAP", "REF", "CFG", "PICKLE")
    for single in ("_SINGLE",) + (("",) if kind else ()))


@dataclass(frozen=True)
class CrdsSettings:
    """A CRDS cache, context and server, resolved once (:func:`resolve_crds`).

    Passed to every lookup. crds itself reads its settings from the process
    environment at each call, so :meth:`applied` sets them around the calls into
    crds and puts the environment back afterwards: nothing else reads them there.
    """

    path: str                           # absolute
    context: str                        # a pmap name, jwst_0002.pmap
    server_url: str = SERVERLESS_URL

    def environment(self):
        """The crds variables for this cache: serverless means ``CRDS_MODE=local``."""
        env = {"CRDS_PATH": self.path, "CRDS_CONTEXT": self.context,
               "CRDS_SERVER_URL": self.server_url, "CRDS_OBSERVATORY": "jwst"}
        if _serverless(self.server_url):
            env["CRDS_MODE"] = "local"
        else:  # a dead server fails in 30 s, not crds's hour
            env["CRDS_CLIENT_TIMEOUT_SECONDS"] = os.environ.get(
                "CRDS_CLIENT_TIMEOUT_SECONDS", "30")
        return env

    @contextlib.contextmanager
    def applied(self):
        """Within the block, crds works on this cache and context.

        The environment is restored on exit. Two caches may hold different mappings
        under the same names, so what crds remembers of another cache is dropped on the
        way in, and what it loaded from this one on the way out unless the restored
        environment names this cache too (a user's own crds calls then see their own).
        crds giving up (it raises SystemExit when a server does not answer) is a
        :class:`~snakewebb.errors.SnakewebbError` naming the cache and server.
        """
        global _CACHE_IN_USE
        here = (self.path, self.server_url)
        if here != _CACHE_IN_USE or _elsewhere(os.environ.get("CRDS_PATH"), self.path):
            _forget_crds_state()
        names = CRDS_VARIABLES + CRDS_PATH_OVERRIDES
        saved = {key: os.environ.get(key) for key in names}
        for key in names:
            os.environ.pop(key, None)
        os.environ.update(self.environment())
        _CACHE_IN_USE = here
        try:
            yield self
        except SystemExit as exc:
            raise SnakewebbError(
                f"crds gave up (exit status {exc.code}) on the cache {self.path} with the "
                f"server {self.server_url}: is the server reachable?") from None
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if _elsewhere(os.environ.get("CRDS_PATH", ""), self.path):
                _forget_crds_state()
                _CACHE_IN_USE = None


#: (path, server) of the cache crds was last used with in this process.
_CACHE_IN_USE = None


def _elsewhere(current, path):
    """Whether CRDS_PATH ``current`` points crds at another cache than ``path``.

    A user's own CRDS_PATH, or what jwst was given (crds may hold that cache's
    mappings); ``""`` stands for none (crds's default cache), None for not known.
    """
    if current is None:
        return False
    return not current or str(Path(current).expanduser().resolve()) != path


def resolve_crds(crds_path=None, context=None, server_url=None, *, environ=None):
    """The :class:`CrdsSettings` of a cache, for offline lookups; writes nothing.

    Arguments override the environment; the environment (``CRDS_PATH``,
    ``CRDS_CONTEXT``, ``CRDS_SERVER_URL``, as JWST users set them) overrides the
    defaults: serverless mode and the cache's operational context. A symbolic
    context (``jwst-operational``) is resolved from the cache, as crds does offline.

    Parameters
    ----------
    crds_path, context, server_url : str, optional
        The cache, the context (a pmap name or path), the server.
    environ : mapping, optional
        Where the variables are read (default ``os.environ``).

    Raises
    ------
    SnakewebbError
        No cache is given, or the cache lacks the requested context.
    """
    environ = os.environ if environ is None else environ
    crds_path = crds_path or environ.get("CRDS_PATH")
    if not crds_path:
        raise SnakewebbError("no CRDS cache: set CRDS_PATH or name one (--crds-path, "
                             "crds_path)")
    crds_path = str(Path(crds_path).expanduser().resolve())
    if not _mappings_dir(crds_path).is_dir():
        raise SnakewebbError(f"{crds_path} is not a CRDS cache (no mappings/jwst)")
    server_url = server_url or environ.get("CRDS_SERVER_URL") or SERVERLESS_URL
    context = context or environ.get("CRDS_CONTEXT") or _operational_context(crds_path)
    context = Path(str(context)).name
    if context.lower() in SYMBOLIC_CONTEXTS:  # as crds resolves it offline: from the cache
        context = _operational_context(crds_path, SYMBOLIC_CONTEXTS[context.lower()])
    if not (_mappings_dir(crds_path) / context).is_file():
        raise SnakewebbError(f"CRDS cache {crds_path} has no context {context}")
    server_url = _effective_server(crds_path, context, server_url)
    log.debug("CRDS: path=%s context=%s server=%s", crds_path, context, server_url)
    return CrdsSettings(path=crds_path, context=context, server_url=server_url)


def _effective_server(crds_path, context, server_url):
    """The CRDS server the lookups use.

    With the cache's ``config/jwst/server_config`` present (``crds sync`` writes it)
    every answer can come from the cache: serverless, whatever URL the user's
    environment names, so that a slow or unreachable server never holds up the
    graph (crds waits up to an hour on a server that accepts but never answers).
    Without it a real server is needed; a dead one then fails within
    ``CRDS_CLIENT_TIMEOUT_SECONDS`` (30 s unless set).
    """
    if (Path(crds_path) / "config" / "jwst" / "server_config").is_file():
        if not _serverless(server_url):
            log.info("CRDS: lookups from the cache %s only; %s is not contacted",
                     crds_path, server_url)
        return SERVERLESS_URL
    if _serverless(server_url):
        raise SnakewebbError(
            f"CRDS cache {crds_path} has no config/jwst/server_config, which offline "
            f"lookups need: fill it once with `crds sync --contexts {context}` on a "
            "machine with network (docs/workflow.md, Real data)"
        )
    return server_url


def _forget_crds_state():
    """Drop crds's memory of a cache (compat).

    This module's own lookups are kept: they are keyed by cache and context.
    """
    from snakewebb.compat import forget_crds_state

    forget_crds_state()


def _serverless(url):
    return "serverless" in url or "server-less" in url


def _normal_key(key):
    """FITS keyword for a key given as keyword, alias or datamodel path (any case)."""
    key = str(key).strip().upper()
    if key in DATAMODEL_PATHS:
        return key
    if key in _PATHS:
        return _PATHS[key]
    return _ALIASES.get(key)


def _normal_value(value):
    if value is None:
        return None
    try:
        import math

        if isinstance(value, float) and math.isnan(value):
            return None
    except TypeError:  # pragma: no cover
        pass
    text = str(value).strip()
    return text.upper() if text else None


def _from_mapping(items):
    found = {}
    for key, value in items:
        kw = _normal_key(key)
        if kw is not None and kw not in found:
            value = _normal_value(value)
            if value is not None:
                found[kw] = value
    return found


def _from_datamodel(model):
    meta = model.meta
    getters = {
        "TELESCOP": lambda: meta.telescope,
        "INSTRUME": lambda: meta.instrument.name,
        "DETECTOR": lambda: meta.instrument.detector,
        "FILTER": lambda: meta.instrument.filter,
        "PUPIL": lambda: meta.instrument.pupil,
        "CHANNEL": lambda: meta.instrument.channel,
        "MODULE": lambda: meta.instrument.module,
        "BAND": lambda: meta.instrument.band,
        "EXP_TYPE": lambda: meta.exposure.type,
        "READPATT": lambda: meta.exposure.readpatt,
        "SUBARRAY": lambda: meta.subarray.name,
        "DATE-OBS": lambda: meta.observation.date,
        "TIME-OBS": lambda: meta.observation.time,
        "TSOVISIT": lambda: meta.visit.tsovisit,
        "VISITYPE": lambda: meta.visit.type,
        "CROWDFLD": lambda: meta.visit.crowded_field,
        "CORONMSK": lambda: meta.instrument.coronagraph,
        "NGROUPS": lambda: meta.exposure.ngroups,
        "NOUTPUTS": lambda: meta.exposure.noutputs,
        "LAMP": lambda: meta.instrument.lamp_state,
    }
    found = {}
    for kw, get in getters.items():
        try:
            value = _normal_value(get())
        except AttributeError:
            value = None
        if value is not None:
            found[kw] = value
    return found


_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d*)?)")


def matching_parameters(header):
    """The parameters CRDS selects on, keyed by datamodel path (``META.INSTRUMENT.DETECTOR``).

    Parameters
    ----------
    header : astropy.io.fits.Header, dict, pandas.Series or datamodel
        Keys may be FITS keywords (``DETECTOR``, ``DATE-OBS``), datamodel paths
        (``meta.instrument.detector``) or the exposure-table column names
        (``detector``, ``exp_type``, ``date_obs``). Missing and empty values are
        left out (CRDS treats them as undefined).

    Returns
    -------
    dict
        ``{"META.INSTRUMENT.NAME": "NIRCAM", ...}``; a DATE-OBS holding a full
        ISO date-time is split into date and time; a date without a time
        means the start of that day (the rmaps' USEAFTER needs both).
    """
    if hasattr(header, "meta") and hasattr(header, "get_crds_parameters"):
        found = _from_datamodel(header)
    elif hasattr(header, "items"):
        found = _from_mapping(header.items())
    else:
        raise TypeError(f"cannot read CRDS parameters from {type(header).__name__}")
    date = found.get("DATE-OBS")
    if date:
        match = _ISO.match(date)
        if match:
            found["DATE-OBS"] = match.group(1)
            found.setdefault("TIME-OBS", match.group(2))
        found.setdefault("TIME-OBS", "00:00:00")  # a date alone means its start
    found.setdefault("TELESCOP", "JWST")
    return {DATAMODEL_PATHS[kw]: value for kw, value in sorted(found.items())}


def _settings(crds, context):
    """The settings a lookup uses.

    ``crds`` (its context replaced by ``context`` if given), else those of the user's
    environment.
    """
    if crds is None:
        return resolve_crds(context=context)
    if context is None or Path(str(context)).name == crds.context:
        return crds
    return resolve_crds(crds.path, context, crds.server_url, environ={})


@lru_cache(maxsize=65536)
def _lookup(crds_path, context, params, reftypes):
    """One CRDS best-references computation: {reftype: file name | 'N/A' | error text}."""
    import crds
    from crds.core import exceptions

    try:
        answer = crds.getrecommendations(
            dict(params), reftypes=list(reftypes), context=context,
            observatory="jwst", fast=True,
        )
    except exceptions.CrdsError as err:
        return tuple((t, f"{_FAILED} {_crds_failure(err)}") for t in reftypes)
    return tuple((t, str(answer.get(t, "NOT FOUND not returned by CRDS"))) for t in reftypes)


#: Marks a lookup CRDS could not make at all (broken or missing mappings), which no
#: single reference type is to blame for.
_FAILED = "CRDS FAILED"


def _crds_failure(err):
    """The telling part of a CRDS failure.

    The unreadable or missing mapping file crds met first (an OSError down the exception
    chain), not its failed attempt to fetch it.
    """
    seen = err
    while seen is not None:
        if isinstance(seen, OSError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return str(err)


_ALWAYS = frozenset({"META.TELESCOPE", "META.INSTRUMENT.NAME"})


@lru_cache(maxsize=256)
def _required_parkeys(crds_path, context, instrument, reftypes):
    """Parkeys the rmaps of ``reftypes`` select on for ``instrument`` under ``context``.

    None when the mappings cannot say (unknown instrument): then every known
    parameter is passed and CRDS itself reports what is wrong.
    """
    from crds.core import rmap

    try:
        imap = rmap.get_cached_mapping(context).get_imap(str(instrument).lower())
    except Exception:  # noqa: BLE001 - the lookup itself gives the user-facing error
        return None
    keys = set(_ALWAYS)
    for reftype in reftypes:
        try:
            keys.update(imap.get_rmap(reftype).get_required_parkeys())
        except Exception:  # noqa: BLE001 - N/A or unknown type: selects on nothing
            continue
    return frozenset(k.upper() for k in keys)


def _restrict(crds_path, context, match, reftypes):
    """``match`` (sorted items) without the parameters the context does not select on.

    So that keywords no rmap uses never split lookups into more groups.
    """
    instrument = dict(match).get("META.INSTRUMENT.NAME")
    required = _required_parkeys(crds_path, context, instrument, reftypes) if instrument else None
    if required is None:
        return match
    return tuple((key, value) for key, value in match if key in required)


_QUOTED_PATH = re.compile(r"'(META\.[A-Z0-9_.]+)'")


def _with_keywords(why):
    """CRDS's reason with each datamodel path it quotes given as its FITS keyword.

    ('META.OBSERVATION.DATE' -> DATE-OBS), the name a header reader knows.
    """
    return _QUOTED_PATH.sub(
        lambda m: _PATHS[m.group(1)] if m.group(1) in _PATHS else m.group(0), why)


def _resolve(crds_path, context, params, reftypes, exposure):
    """Absolute cache paths (None for N/A) or ReferenceLookupError naming the type."""
    from crds.core import config

    instrument = dict(params).get("META.INSTRUMENT.NAME")
    if not instrument:
        raise ReferenceLookupError(exposure, reftypes[0], "no INSTRUME keyword")
    result = {}
    quiet = _quiet_crds()
    with quiet:
        answers = dict(_lookup(crds_path, context, params, reftypes))
    failed = [v for v in answers.values() if v.startswith(_FAILED)]
    if failed:  # every type asked for, not the first one only: none can be selected
        raise ReferenceLookupError(
            exposure, "/".join(reftypes),
            f"CRDS cannot select under {context}: {failed[0][len(_FAILED):].strip()}")
    for reftype in reftypes:
        value = answers[reftype]
        upper = value.upper()
        if upper.startswith("NOT FOUND"):
            why = value[len("NOT FOUND"):].strip()
            if why.upper().startswith("N/A") or why.upper() == "":
                result[reftype] = None
                continue
            raise ReferenceLookupError(
                exposure, reftype, f"{_with_keywords(why)} (context {context})")
        if upper == "N/A":
            result[reftype] = None
            continue
        path = Path(config.locate_file(value, "jwst"))
        if not path.is_file():
            raise ReferenceLookupError(
                exposure, reftype, f"{value} (context {context}) is not in the cache {crds_path}")
        result[reftype] = str(path)
    return result


class _quiet_crds:
    """Keep CRDS's own ERROR log lines out of ours: failures become our exceptions."""

    def __enter__(self):
        self._logger = logging.getLogger("CRDS")
        self._level = self._logger.level
        self._logger.setLevel(logging.CRITICAL)
        # crds prints some tracebacks itself (a mapping it fails to fetch)
        self._stderr = contextlib.redirect_stderr(io.StringIO())
        self._stderr.__enter__()
        return self

    def __exit__(self, *exc):
        self._stderr.__exit__(*exc)
        self._logger.setLevel(self._level)
        return False


def best_references(header, reftypes=ALL_REFTYPES, *, crds=None, context=None, exposure=None):
    """Best reference files for one exposure, from the local CRDS cache.

    Parameters
    ----------
    header : FITS header, dict or datamodel
        See :func:`matching_parameters`.
    reftypes : sequence of str
        Reference types to look up (lower case, as CRDS names them).
    crds : CrdsSettings, optional
        The cache and context (:func:`resolve_crds`); default those the environment
        names (``CRDS_PATH``, ``CRDS_CONTEXT``).
    context : str, optional
        Pipeline mapping, in place of the settings' context.
    exposure : str, optional
        Exposure name used in error messages.

    Returns
    -------
    dict
        ``{reftype: absolute path}``, ``None`` where CRDS says N/A.

    Raises
    ------
    ReferenceLookupError
        CRDS cannot resolve a type, or the file it names is not in the cache.
    """
    if isinstance(reftypes, str):
        reftypes = (reftypes,)
    reftypes = tuple(t.lower() for t in reftypes)
    crds = _settings(crds, context)
    params = tuple(sorted(matching_parameters(header).items()))
    exposure = exposure or "exposure"
    with crds.applied():
        params = _restrict(crds.path, crds.context, params, reftypes)
        return _resolve(crds.path, crds.context, params, reftypes, exposure)


# A quoted date-time in a mapping file: the USEAFTER keys of the rmaps' UseAfter selectors.
_MAPPING_DATE = re.compile(r"'(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)'")
_DATE = "META.OBSERVATION.DATE"
_TIME = "META.OBSERVATION.TIME"
# Dates this close to a USEAFTER date are looked up on their own: whatever rounding or
# tie rule CRDS applies at the boundary, such an exposure never shares another's answer.
_NEAR = timedelta(seconds=2)


def _moment(date, time):
    """Datetime of a DATE-OBS/TIME-OBS pair (None when either cannot be read)."""
    if not date or not time:
        return None
    time = str(time)
    if "." in time:  # fromisoformat takes at most 6 fraction digits
        whole, fraction = time.split(".", 1)
        time = f"{whole}.{(fraction + '000000')[:6]}"
    try:
        return datetime.fromisoformat(f"{date}T{time}")
    except ValueError:
        return None


def useafter_dates(crds, instrument, reftypes):
    """Every date-time written in the rmaps ``crds.context`` uses for ``instrument``/``reftypes``.

    These include all USEAFTER dates CRDS can select on for them: two observation
    dates with the same USEAFTER dates at or before them get the same references.
    The list may hold more dates than that (any quoted date-time of those rmaps),
    which only makes the intervals between them finer.

    Returns
    -------
    list of datetime
        Sorted, distinct. Reference types that are N/A for the instrument (or that
        the context does not know) are left out: CRDS's answer for them does not
        depend on the date.
    """
    from crds.core import config, rmap

    dates, texts = set(), []
    with crds.applied():
        pmap = rmap.get_cached_mapping(crds.context)
        try:
            imap = pmap.get_imap(str(instrument).lower())
        except Exception:  # noqa: BLE001 - unknown instrument: the lookup itself reports it
            return []
        for reftype in reftypes:
            try:
                name = imap.get_rmap(reftype.lower()).name
            except Exception:  # noqa: BLE001 - N/A or unknown type: not date dependent
                continue
            texts.append(Path(config.locate_mapping(name, "jwst")).read_text())
    for text in texts:
        for date, time in _MAPPING_DATE.findall(text):
            moment = _moment(date, time)
            if moment is not None:
                dates.add(moment)
    return sorted(dates)


def _date_group(match, breaks):
    """Key shared by parameter sets that CRDS resolves alike under USEAFTER dates ``breaks``.

    The parameters other than the observation date and time, and the interval
    between consecutive USEAFTER dates the observation falls in. Observations
    within :data:`_NEAR` of a USEAFTER date, or whose date cannot be read, keep
    their own exact parameters as key.
    """
    params = dict(match)
    moment = _moment(params.pop(_DATE, None), params.pop(_TIME, None))
    if moment is None:
        return ("exact", match)
    where = bisect_right(breaks, moment)
    for i in (where - 1, where):
        if 0 <= i < len(breaks) and abs(moment - breaks[i]) <= _NEAR:
            return ("exact", match)
    return ("interval", tuple(sorted(params.items())), where)


def best_references_table(params, *, crds=None, context=None, reftypes=ALL_REFTYPES,
                          problems=None):
    """Best references for a whole exposure table, with few CRDS calls.

    Exposures that differ only in their observation date and time are resolved
    together when no USEAFTER date of the rmaps involved lies between them (see
    :func:`useafter_dates`): CRDS is asked once per group of equal other
    parameters and interval between USEAFTER dates, with the first exposure of the
    group, and gives every member the same answer it would give it alone.

    Parameters
    ----------
    params : pandas.DataFrame
        One row per exposure (the index names it); columns as accepted by
        :func:`matching_parameters` (e.g. ``instrument``, ``detector``,
        ``exp_type``, ``filter``, ``pupil``, ``subarray``, ``date_obs``).
    crds, context, reftypes
        As for :func:`best_references`.
    problems : dict, optional
        When given, an exposure whose references cannot be resolved is recorded
        there (label -> :class:`ReferenceLookupError` naming it) and left out of
        the result instead of raising.

    Returns
    -------
    pandas.DataFrame
        Same index (less the exposures put in ``problems``), one column per
        reftype: absolute path or ``None`` (N/A).

    Raises
    ------
    ReferenceLookupError
        For the first exposure whose references cannot be resolved (without
        ``problems``).
    """
    import pandas as pd

    if isinstance(reftypes, str):
        reftypes = (reftypes,)
    reftypes = tuple(t.lower() for t in reftypes)
    crds = _settings(crds, context)
    crds_path, context = crds.path, crds.context
    usable = [c for c in params.columns if _normal_key(c) is not None]
    rows = {}
    with crds.applied():
        if len(params):
            values = params[usable].astype(object).where(params[usable].notna(), None)
            keys = [tuple(r) for r in values.itertuples(index=False, name=None)]
            by_key, by_group, breaks = {}, {}, {}
            for label, key in zip(params.index, keys):
                answer = by_key.get(key)
                if answer is None:
                    match = tuple(sorted(matching_parameters(dict(zip(usable, key))).items()))
                    match = _restrict(crds_path, context, match, reftypes)
                    instrument = dict(match).get("META.INSTRUMENT.NAME")
                    if instrument not in breaks:
                        breaks[instrument] = (useafter_dates(crds, instrument, reftypes)
                                              if instrument else [])
                    group = _date_group(match, breaks[instrument])
                    answer = by_group.get(group)
                    if answer is None:
                        try:
                            answer = _resolve(crds_path, context, match, reftypes, label)
                        except ReferenceLookupError as err:
                            if problems is None:
                                raise
                            answer = err
                        by_group[group] = answer
                    by_key[key] = answer
                if isinstance(answer, ReferenceLookupError):
                    problems[label] = ReferenceLookupError(label, answer.reftype,
                                                           answer.problem.partition(": ")[2])
                    continue
                rows[label] = answer
            log.debug("CRDS asked %d times for %d exposures", len(by_group), len(params))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(reftypes))
    index = params.index if not problems else params.index[~params.index.isin(list(problems))]
    table = table.reindex(index).astype(object)
    return table.where(table.notna(), None)
