"""Level-2 ASN files and the exposure table the workflow is built from.

The table has one row per ASN product (the exposure ID the outputs are named
after) with its science and background members and the header keywords that
decide how it is calibrated and which references CRDS selects for it.
Building it means opening every science file, so it is cached on disk and
rebuilt only for ASN files whose own (size, mtime) or whose members'
(size, mtime) changed: a 10,000-exposure campaign loads from the cache in a
fraction of a second. Only the primary header is parsed, except for the rare
file whose header lacks a keyword every exposure needs: its value is then taken
from the file's ASDF extension, where stdatamodels (and so jwst) finds it too.
"""

import glob
import hashlib
import io
import json
import logging
import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from snakewebb import modes
from snakewebb.errors import ExposureError, ReferenceLookupError, SnakewebbError
from snakewebb.references import DATAMODEL_PATHS

__all__ = [
    "HEADER_KEYWORDS",
    "REQUIRED_KEYWORDS",
    "Problem",
    "read_asn",
    "read_asn_products",
    "read_header_keywords",
    "read_asdf_keywords",
    "exposure_table",
    "exposure_references",
]

log = logging.getLogger(__name__)

#: Primary-header keywords kept in the table: how the exposure is calibrated and
#: what CRDS selects references on for imaging (column name = lower case, "-" -> "_",
#: INSTRUME -> instrument).
HEADER_KEYWORDS = (
    "TELESCOP", "INSTRUME", "DETECTOR", "EXP_TYPE", "FILTER", "PUPIL", "SUBARRAY",
    "TSOVISIT", "NINTS", "DATE-OBS", "TIME-OBS", "READPATT", "CHANNEL", "MODULE", "BAND",
    "VISITYPE", "CROWDFLD", "CORONMSK", "NGROUPS", "NOUTPUTS", "LAMP",
)

#: Keywords every exposure must have: without them the table cannot say how the
#: exposure is calibrated nor CRDS which references it gets. When the primary header
#: lacks one (or holds a blank), the value is taken from the file's ASDF extension,
#: as stdatamodels (and so jwst) does; absent from both is an ExposureError. The
#: other :data:`HEADER_KEYWORDS` may be absent (None in the table).
REQUIRED_KEYWORDS = ("INSTRUME", "DETECTOR", "EXP_TYPE")

_CACHE_VERSION = 7
_CACHE_NAME = "exposure_table.pkl"
_BLOCK = 2880
_CARD = 80
_MAX_HEADER_BLOCKS = 2000  # 5.7 MB: no real primary header is that long


class Problem(NamedTuple):
    """A planning problem: what cannot be processed, and why (one line).

    ``exposure`` is None when a whole ASN file is unusable (malformed JSON, no
    products); ``message`` names the exposure, or the ASN file, first.
    """

    exposure: str | None
    asn: str
    message: str


def _column(keyword):
    if keyword == "INSTRUME":
        return "instrument"
    return keyword.lower().replace("-", "_")


# ---------------------------------------------------------------------- ASN files

def _member_path(asn_dir, expname):
    """Path of an ASN member named relative to the ASN's directory.

    A ``..`` is resolved as the file system does (after any symlink before it),
    as the official pipeline opening the joined path does; without one the path
    is only tidied.
    """
    joined = Path(asn_dir) / expname
    if ".." in Path(expname).parts:
        return Path(os.path.realpath(joined))
    return Path(os.path.normpath(joined))


def read_asn(path):
    """Read a Level-2 (image2) association.

    Parameters
    ----------
    path : str or Path
        The ASN JSON file. Member names are resolved against its directory.

    Returns
    -------
    list of dict
        One dict per product: ``name`` (the exposure ID outputs are named after),
        ``science`` (absolute path of the one science member), ``backgrounds``
        (tuple of absolute paths of the background members) and ``asn_pool`` (the
        ASN's ``asn_pool``, None when it has none).

    Raises
    ------
    ExposureError
        One line naming the ASN file (or the product) for unreadable or malformed
        JSON, a product without a name or with no or several science members, and
        members whose files do not exist (the first such problem).
    """
    products, problems = read_asn_products(path)
    if problems:
        raise problems[0]
    return products


def read_asn_products(path):
    """Read a Level-2 association, keeping each product's problem to itself.

    Returns
    -------
    products : list of dict
        The products that can be planned (as :func:`read_asn` gives them).
    problems : list of ExposureError
        One per product that cannot (named after the product: no members list,
        no or several science members, a member file missing), or a single one
        named after the ASN file when the file as a whole is unusable
        (unreadable, malformed JSON, no products list, a product without a name).
    """
    path = Path(path).absolute()
    where = str(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not text"
        return [], [ExposureError(where, f"cannot read ASN file ({reason})")]
    try:
        asn = json.loads(text)
    except json.JSONDecodeError as err:
        return [], [ExposureError(
            where, f"malformed ASN JSON (line {err.lineno} column {err.colno}: {err.msg})")]
    products = asn.get("products") if isinstance(asn, dict) else None
    if not isinstance(products, list) or not products:
        return [], [ExposureError(where, "ASN has no 'products' list")]
    pool = asn.get("asn_pool")
    pool = str(pool).strip() or None if pool is not None else None
    for number, product in enumerate(products):
        if not isinstance(product, dict) or not str(product.get("name", "")).strip():
            return [], [ExposureError(where, f"product {number} has no name")]
    out, problems = [], []
    for product in products:
        try:
            out.append(_read_product(path, product, pool))
        except ExposureError as err:
            problems.append(err)
    return out, problems


def _read_product(path, product, pool):
    name = str(product["name"]).strip()
    members = product.get("members")
    if not isinstance(members, list):
        raise ExposureError(name, f"product in {path.name} has no 'members' list")
    science, backgrounds = [], []
    for member in members:
        if not isinstance(member, dict) or "expname" not in member:
            raise ExposureError(name, f"member without 'expname' in {path.name}")
        role = str(member.get("exptype", "science")).strip().lower()
        member_path = _member_path(path.parent, str(member["expname"]))
        if role == "science":
            science.append(member_path)
        elif role == "background":
            backgrounds.append(member_path)
        else:
            log.info("%s: ignoring %s member %s", name, role, member_path.name)
    if len(science) != 1:
        raise ExposureError(
            name, f"{len(science)} science members in {path.name} (expected exactly 1)"
        )
    for member_path in (*science, *backgrounds):
        if not member_path.is_file():
            raise ExposureError(
                name, f"member {member_path} listed in {path.name} does not exist"
            )
    return {
        "name": name,
        "science": str(science[0]),
        "backgrounds": tuple(str(p) for p in backgrounds),
        "asn_pool": pool,
    }


# --------------------------------------------------------------- header reading

def _card_value(text):
    """Value of a FITS card's value field (after ``"= "``): str, bool, int, float."""
    text = text.strip()
    if text.startswith("'"):
        chars, i = [], 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1:i + 2] == "'":
                    chars.append("'")
                    i += 2
                    continue
                break
            chars.append(text[i])
            i += 1
        return "".join(chars).rstrip()
    text = text.split("/", 1)[0].strip()
    if text == "T":
        return True
    if text == "F":
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text or None


def _read_one_header(handle, wanted):
    """Read one FITS header from ``handle``; return (values of ``wanted``, NAXIS list)."""
    values, naxis = {}, {}
    for _ in range(_MAX_HEADER_BLOCKS):
        block = handle.read(_BLOCK)
        if len(block) < _BLOCK:
            raise ValueError("file ends inside a FITS header")
        for start in range(0, _BLOCK, _CARD):
            card = block[start:start + _CARD].decode("ascii", "replace")
            key = card[:8].rstrip()
            if key == "END":
                axes = [naxis.get(f"NAXIS{i}", 0) for i in range(1, naxis.get("NAXIS", 0) + 1)]
                return values, axes, naxis
            if card[8:10] != "= ":
                continue
            if key in wanted:
                values[key] = _card_value(card[10:])
            elif key.startswith("NAXIS") or key in ("BITPIX", "PCOUNT", "GCOUNT"):
                naxis[key] = _card_value(card[10:])
    raise ValueError("no END card in the FITS header")


def read_header_keywords(path, keywords=HEADER_KEYWORDS):
    """Read ``keywords`` from a FITS file's primary header and the SCI array's rank.

    Only the header blocks are read (no data, no astropy): the primary header,
    then, when the primary HDU has no data, the first extension header whose
    NAXIS says whether the science array is 2D or a cube.

    Returns
    -------
    dict
        Keyword -> value for the keywords present, plus ``"_NDIM"`` (rank of the
        science array, 0 when it could not be determined).
    """
    wanted = set(keywords)
    with open(path, "rb") as handle:
        first = handle.read(6)
        if first != b"SIMPLE":
            raise ValueError("not a FITS file")
        handle.seek(0)
        values, axes, _ = _read_one_header(handle, wanted)
        ndim = len(axes)
        if ndim == 0:
            try:
                _, ext_axes, _ = _read_one_header(handle, set())
                ndim = len(ext_axes)
            except ValueError:
                ndim = 0
    values["_NDIM"] = ndim
    return values


def _is_nan(value):
    return isinstance(value, float) and value != value


def _absent(value):
    """True for a keyword value that says nothing: None, blank text or NaN."""
    return value is None or _is_nan(value) or (isinstance(value, str) and not value.strip())


def read_asdf_keywords(path, keywords):
    """Values of ``keywords`` from the ASDF extension of a stdatamodels FITS file.

    That extension holds the datamodel's metadata tree; each keyword is looked up
    at its datamodel path (:data:`snakewebb.references.DATAMODEL_PATHS`, e.g. EXP_TYPE at
    ``meta.exposure.type``). Only the ASDF bytes are parsed: no array is read.

    Returns
    -------
    dict
        Keyword -> value for the keywords the tree holds a non-blank value for;
        empty when the file has no ASDF extension.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        Its ASDF extension (or the FITS structure before it) cannot be parsed.
    """
    import asdf
    from astropy.io import fits

    from snakewebb.compat import speed_up_asdf_yaml

    speed_up_asdf_yaml()
    found = {}
    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            if "ASDF" not in hdul:
                return found
            raw = hdul["ASDF"].data.tobytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", asdf.exceptions.AsdfWarning)
            with asdf.open(io.BytesIO(raw), lazy_load=True, memmap=False,
                           ignore_unrecognized_tag=True,
                           ignore_missing_extensions=True) as af:
                for keyword in keywords:
                    dotted = DATAMODEL_PATHS.get(keyword)
                    if dotted is None:
                        continue
                    node = af.tree
                    for part in dotted.lower().split("."):
                        node = node.get(part) if hasattr(node, "get") else None
                    if isinstance(node, (str, bool, int, float)) and not _absent(node):
                        found[keyword] = node.strip() if isinstance(node, str) else node
    except OSError:
        raise
    except Exception as err:  # noqa: BLE001 - any parser failure means "unreadable"
        raise ValueError(f"{type(err).__name__}: {err}") from None
    return found


def _fill_from_asdf(name, science, header):
    """Fill the keywords the header lacks from the ASDF extension (datamodel view).

    Done only when a :data:`REQUIRED_KEYWORDS` is absent or blank (rare: the
    FITS keywords are written from the same metadata), so the common path
    parses no ASDF. A value the header holds wins, as it does in stdatamodels.
    """
    lacking = [k for k in REQUIRED_KEYWORDS if _absent(header.get(k))]
    if not lacking:
        return header
    try:
        fallback = read_asdf_keywords(
            science, [k for k in HEADER_KEYWORDS if _absent(header.get(k))])
    except (OSError, ValueError) as err:
        raise ExposureError(
            name, f"cannot read the ASDF metadata of {science}: {err}") from None
    header = {**header, **fallback}
    for keyword, value in fallback.items():
        log.info("%s: %s=%r from the ASDF metadata (absent or blank in the primary header)",
                 name, keyword, value)
    missing = [k for k in REQUIRED_KEYWORDS if _absent(header.get(k))]
    if missing:
        word = "keyword" if len(missing) == 1 else "keywords"
        raise ExposureError(
            name, f"{word} {', '.join(missing)} missing from the primary header and the "
                  f"ASDF metadata of {Path(science).name}")
    return header


def _science_row(product, asn_path):
    science = product["science"]
    try:
        header = read_header_keywords(science)
    except (OSError, ValueError) as err:
        raise ExposureError(
            product["name"], f"cannot read the header of {science}: {err}"
        ) from None
    header = _fill_from_asdf(product["name"], science, header)
    row = {
        "exposure": product["name"],
        "asn": str(asn_path),
        "asn_pool": product.get("asn_pool"),
        "science": science,
        "backgrounds": product["backgrounds"],
    }
    for keyword in HEADER_KEYWORDS:
        row[_column(keyword)] = header.get(keyword)
    name = Path(science).name
    if header["_NDIM"] in (2, 3):
        row["is_cube"] = header["_NDIM"] == 3
    else:  # no image extension found: trust the product name
        row["is_cube"] = "_rateints" in name or "_bsubints" in name
    return row


# ------------------------------------------------------------------ the table

def _stat_key(path):
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)


def _expand(asn_patterns):
    if isinstance(asn_patterns, (str, os.PathLike)):
        asn_patterns = [asn_patterns]
    paths = []
    for pattern in asn_patterns:
        matches = sorted(glob.glob(os.fspath(pattern)))
        if not matches:
            raise SnakewebbError(f"{pattern}: ASN pattern matches no file")
        paths.extend(os.path.abspath(m) for m in matches)
    return list(dict.fromkeys(paths))


def _load_cache(cache_file):
    try:
        with open(cache_file, "rb") as handle:
            cache = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return {}
    if not isinstance(cache, dict) or cache.get("version") != _CACHE_VERSION:
        return {}
    return cache.get("asns", {})


def _save_pickle(path, obj):
    """Write ``obj`` to ``path`` atomically (a reader never sees half a cache).

    A cache that cannot be written (full disk, read-only output directory) is
    only a warning: the next run reads the files again.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        log.warning("cannot write the cache %s (%s); it is rebuilt next time",
                    path, err.strerror or err)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _entry_is_fresh(entry, asn_key):
    if entry is None or entry["key"] != asn_key or entry["retry"]:
        return False
    try:
        return all(_stat_key(p) == k for p, k in entry["members"].items())
    except OSError:
        return False


def _read_entry(asn_path, asn_key):
    products, errors = read_asn_products(asn_path)
    asn_level = not products and len(errors) == 1 and errors[0].exposure == str(asn_path)
    problems = [Problem(None if asn_level else err.exposure, str(asn_path), str(err))
                for err in errors]
    rows, members = [], {}
    for product in products:
        try:
            rows.append(_science_row(product, asn_path))
        except ExposureError as err:
            problems.append(Problem(err.exposure, str(asn_path), str(err)))
        for member in (product["science"], *product["backgrounds"]):
            try:
                members[member] = _stat_key(member)
            except OSError:
                members[member] = None  # read again next time
    # a product refused by read_asn (e.g. a member file missing) is read again next
    # time: the file may have appeared without the ASN changing
    return {"key": asn_key, "members": members, "rows": rows, "problems": problems,
            "retry": bool(errors) and not asn_level}


def exposure_table(asn_patterns, *, cache_dir=None,
                   tso_exp_types=modes.DEFAULT_TSO_EXP_TYPES, trust_cache=False,
                   problems=None):
    """The exposures of a campaign as a DataFrame, one row per ASN product.

    Parameters
    ----------
    asn_patterns : str or list of str
        Glob patterns of Level-2 ASN files; each must match at least one file.
    cache_dir : str or Path, optional
        Directory of the on-disk cache. Without it every header is read.
    tso_exp_types : sequence of str
        EXP_TYPEs treated as time series (TSOVISIT=T also counts).
    trust_cache : bool
        Use cached entries without checking the (size, mtime) of the files: for the
        job processes a workflow starts (on a cluster, one per job), whose main
        process has just checked and written the cache; it spares the shared file
        system a stat of every file of the campaign per job.
    problems : list, optional
        When given, each problem (a :class:`Problem`) is appended to it and only
        the exposure (or ASN file) it concerns is left out of the table; without
        it the first problem is raised.

    Returns
    -------
    pandas.DataFrame
        Index ``exposure``; columns ``asn``, ``science``, ``backgrounds`` (tuple),
        the :data:`HEADER_KEYWORDS` (lower case; object columns, None where the
        file lacks the keyword; a :data:`REQUIRED_KEYWORDS` absent or blank in the
        primary header comes from the file's ASDF metadata, as in the datamodel),
        ``is_cube``, ``tso``,
        ``suffix`` (cal/calints), ``bsub_suffix``, ``background`` (background
        subtraction runs) and ``resample`` (an ``_i2d`` is made).

    Raises
    ------
    SnakewebbError
        One line naming the ASN file or exposure: unreadable ASN, missing
        member, unreadable header, a required keyword in neither the primary
        header nor the ASDF metadata, unsupported EXP_TYPE, an exposure ID given
        by two products.
    """
    asn_paths = _expand(asn_patterns)
    cache_file = Path(cache_dir) / _CACHE_NAME if cache_dir is not None else None
    cached = _load_cache(cache_file) if cache_file is not None else {}
    entries, reread = {}, 0
    for asn_path in asn_paths:
        entry = cached.get(asn_path)
        if trust_cache and entry is not None:
            entries[asn_path] = entry
            continue
        asn_key = _stat_key(asn_path)
        if not _entry_is_fresh(entry, asn_key):
            entry = _read_entry(asn_path, asn_key)
            reread += 1
        entries[asn_path] = entry
    if cache_file is not None and (reread or len(entries) != len(cached)):
        _save_pickle(cache_file, {"version": _CACHE_VERSION, "asns": entries})
    log.info("exposure table: %d ASN files, %d read, %d from cache",
             len(entries), reread, len(entries) - reread)

    found = []
    rows, claimed = [], {}
    for asn_path, entry in entries.items():
        found.extend(entry["problems"])
        for row in entry["rows"]:
            claimed.setdefault(row["exposure"], []).append(asn_path)
            rows.append(row)
    twice = {name: paths for name, paths in claimed.items() if len(paths) > 1}
    if twice:
        for name, paths in twice.items():
            found.append(Problem(name, paths[0], str(ExposureError(
                name, f"product name given by both {paths[0]} and {paths[1]}"))))
        rows = [row for row in rows if row["exposure"] not in twice]
    table = _finish_table(rows, tso_exp_types, found)
    if problems is None:
        if found:
            name, _, text = found[0].message.partition(": ")
            raise ExposureError(name, text)
    else:
        problems.extend(found)
    return table


def _finish_table(rows, tso_exp_types, problems):
    columns = ["exposure", "asn", "asn_pool", "science", "backgrounds",
               *(_column(k) for k in HEADER_KEYWORDS), "is_cube"]
    table = pd.DataFrame.from_records(rows, columns=columns).set_index("exposure")
    # Keyword columns (and the ASN pool) hold the values as read, None where absent:
    # never NaN (pandas would make a text column with a gap a string column showing NaN).
    for column in ("asn_pool", *(_column(keyword) for keyword in HEADER_KEYWORDS)):
        values = [row.get(column) for row in rows]
        table[column] = pd.Series([None if _is_nan(v) else v for v in values],
                                  index=table.index, dtype=object)
    unsupported = ~table["exp_type"].isin(modes.SUPPORTED_EXP_TYPES)
    if unsupported.any():
        for name in table.index[unsupported]:
            problems.append(Problem(name, table.at[name, "asn"], str(ExposureError(
                name, f"EXP_TYPE {table.at[name, 'exp_type']!r} is not a supported imaging "
                      f"type ({modes.describe_supported()})"))))
        table = table[~unsupported].copy()
    tso_types = set(tso_exp_types)
    table["is_cube"] = table["is_cube"].astype(bool)
    table["tso"] = [modes.is_tso(e, t if t is not None else False, tso_types)
                    for e, t in zip(table["exp_type"], table["tsovisit"])]
    table["suffix"] = [modes.cal_suffix(c) for c in table["is_cube"]]
    table["bsub_suffix"] = [modes.bsub_suffix(c) for c in table["is_cube"]]
    table["background"] = [modes.runs_background(len(b), t)
                           for b, t in zip(table["backgrounds"], table["tso"])]
    table["resample"] = [modes.runs_resample(e, c, t) for e, c, t in
                         zip(table["exp_type"], table["is_cube"], table["tso"])]
    return table


# ------------------------------------------------------------- reference files

_REFS_CACHE_VERSION = 4


def _refs_cache_file(cache_dir, crds):
    tag = hashlib.sha1(os.path.abspath(crds.path).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"references_{Path(crds.context).stem}_{tag}.pkl"


def exposure_references(table, reftypes, *, crds, cache_dir=None, lookup=None,
                        problems=None):
    """The reference files of every exposure of ``table`` under ``crds.context``.

    CRDS is asked once per distinct set of selection keywords (through
    :func:`snakewebb.references.best_references_table`) and the answers are
    cached per context and CRDS cache on disk: a context is immutable, so a
    later run asks CRDS only about keyword sets it has not seen.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`exposure_table`.
    reftypes : sequence of str
        Reference types wanted (those of the steps that run).
    crds : snakewebb.references.CrdsSettings
        The CRDS cache and context in use (:func:`snakewebb.references.resolve_crds`).
    cache_dir : str or Path, optional
        Directory of the on-disk cache.
    lookup : callable, optional
        ``lookup(params, crds=, reftypes=)`` with the signature of
        :func:`snakewebb.references.best_references_table` (the default); it must
        accept ``problems=`` when ``problems`` is given.
    problems : dict, optional
        When given, each exposure whose references cannot be resolved is put
        there (exposure -> :class:`ReferenceLookupError` naming it) and left out
        of the result; failed lookups are not cached (a later ``crds sync`` may
        mend them).

    Returns
    -------
    dict
        exposure -> {reftype: absolute path}; reftypes that are N/A for the
        exposure are left out.

    Raises
    ------
    ReferenceLookupError
        Naming the (first) exposure and the reftype CRDS cannot resolve
        (without ``problems``).
    """
    if lookup is None:
        from snakewebb.references import best_references_table as lookup

    reftypes = tuple(reftypes)
    keys = [_column(k) for k in HEADER_KEYWORDS]
    cache_file = _refs_cache_file(cache_dir, crds) if cache_dir is not None else None
    known = {}
    if cache_file is not None:
        try:
            with open(cache_file, "rb") as handle:
                stored = pickle.load(handle)
            if stored.get("version") == _REFS_CACHE_VERSION:
                known = stored["refs"]
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError):
            known = {}

    params = table[keys].astype(object).where(table[keys].notna(), None)
    param_keys = list(params.itertuples(index=False, name=None))
    first_of = {}
    for name, key in zip(params.index, param_keys):
        first_of.setdefault(key, name)
    missing_types = {}
    for key in first_of:
        entry = known.get(key, {})
        lacking = [rt for rt in reftypes
                   if rt not in entry or (entry[rt] is not None and not os.path.exists(entry[rt]))]
        if lacking:
            missing_types[key] = tuple(lacking)
    if missing_types:
        todo = list(missing_types)
        wanted = tuple(sorted({rt for key in todo for rt in missing_types[key]},
                              key=reftypes.index))
        frame = pd.DataFrame(
            [dict(zip(HEADER_KEYWORDS, key)) for key in todo],
            index=pd.Index([first_of[key] for key in todo], name="exposure"),
        )
        log.info("asking CRDS (%s) about %d keyword sets for %s",
                 crds.context, len(todo), ", ".join(wanted))
        failed = {}
        if problems is None:
            found = lookup(frame, crds=crds, reftypes=wanted)
        else:
            found = lookup(frame, crds=crds, reftypes=wanted, problems=failed)
        failed_keys = {}
        for key, name in zip(todo, frame.index):
            if name in failed:
                failed_keys[key] = failed[name]
                continue
            entry = dict(known.get(key, {}))
            for rt in wanted:
                value = found.at[name, rt]
                entry[rt] = None if value is None or pd.isna(value) else str(value)
            known[key] = entry
        if cache_file is not None:
            _save_pickle(cache_file, {"version": _REFS_CACHE_VERSION, "refs": known})

    else:
        failed_keys = {}
    per_key = {key: {rt: known[key][rt] for rt in reftypes if known[key][rt] is not None}
               for key in first_of if key not in failed_keys}
    if failed_keys:
        result = {}
        for name, key in zip(params.index, param_keys):
            err = failed_keys.get(key)
            if err is None:
                result[name] = per_key[key]
            else:
                problems[name] = ReferenceLookupError(name, err.reftype,
                                                      err.problem.partition(": ")[2])
        return result
    return {name: per_key[key] for name, key in zip(params.index, param_keys)}
