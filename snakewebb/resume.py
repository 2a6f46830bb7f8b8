"""A killed campaign resumes without processing again what had finished.

Snakemake marks a job's outputs incomplete (``.snakemake/incomplete``) when the job
starts and clears the marks when it sees the job end. A job that wrote its products
and exited in the moment before Snakemake itself was killed keeps its marks, and the
next run (``rerun-incomplete``, set in ``profiles/default``) deletes those products
and processes the exposure again. Products appear only by rename (:mod:`snakewebb.io`),
so a marked product that exists is whole; what Snakemake cannot know is whether the
next run would make the same product. This module settles that, in three steps:

1. :func:`record_job` -- each job, before it computes anything, appends its
   fingerprint (rule, wildcards, inputs with their size and modification time, params,
   outputs, software version and revision, CRDS context) to a journal,
   ``.snakemake/snakewebb/jobs.jsonl``. Snakemake removes a job's outputs before
   starting it and a product appears only whole, so a product present afterwards was
   made by that job. (Recording after the write would leave a window between the
   rename and the record, and a kill triggered by products appearing hits it.)
2. :func:`salvage` -- the main Snakemake process, before it plans, hard-links every
   product that is still marked incomplete, present and journalled to a
   hidden ``.<product>.salvage`` beside it and records the fingerprint
   (``.snakemake/snakewebb/salvaged.json``). Snakemake then reruns the job as usual,
   which removes the product's own name.
3. :func:`reinstate` -- that job, before it imports anything heavy, renames the
   salvaged products back when its own fingerprint is the recorded one: nothing is
   computed again, the product keeps its inode and content, and Snakemake records
   the job's metadata as for any job that finished. Any difference (an input, a param
   or the software changed) discards the salvage and the job runs as usual.

Reading Snakemake's incomplete marks is in ``rules/compat.smk`` (its internals, behind
a version guard); this module only takes the paths.
"""

import hashlib
import json
import os
from pathlib import Path

__all__ = ["fingerprint", "record_job", "salvage", "reinstate", "STATE_DIR"]

#: Where the journal and the salvage record live, relative to the working directory.
STATE_DIR = Path(".snakemake", "snakewebb")
_JOURNAL = "jobs.jsonl"
_SALVAGED = "salvaged.json"


def _key(path):
    return os.path.abspath(str(path))


def salvage_path(product):
    """The hidden name a salvaged ``product`` is kept under, beside it."""
    product = Path(product)
    return product.with_name(f".{product.name}.salvage")


def _stat(path):
    try:
        st = os.stat(path)
    except OSError:
        return [str(path), None, None]
    return [str(path), st.st_size, st.st_mtime_ns]


def fingerprint(rule, wildcards, inputs, outputs, params, crds_context=None):
    """Return what determines a job's products, as one hash.

    Equal fingerprints make equal products (up to the write date).
    """
    from snakewebb import __version__
    from snakewebb.revision import source_revision

    document = {
        "rule": str(rule),
        "wildcards": {str(k): str(v) for k, v in dict(wildcards).items()},
        "inputs": [_stat(p) for p in inputs],
        "outputs": sorted(_key(p) for p in outputs),
        "params": {str(k): v for k, v in dict(params).items()},
        "software": [__version__, source_revision()],
        "crds_context": crds_context,
    }
    text = json.dumps(document, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _job_fingerprint(smk):
    """:func:`fingerprint` of the job Snakemake describes in a script's ``snakemake``."""
    return fingerprint(smk.rule, smk.wildcards.items(), list(smk.input),
                       list(smk.output), smk.params.items(), smk.config.get("crds_context"))


def record_job(smk, state_dir=STATE_DIR, fingerprint_=None):
    """Append the fingerprint of the job ``smk`` describes to the journal.

    One line, one ``O_APPEND`` write, before the job writes anything.
    """
    line = json.dumps({"outputs": [_key(p) for p in smk.output],
                       "fingerprint": fingerprint_ or _job_fingerprint(smk)}) + "\n"
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / _JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _read_journal(path):
    finished = {}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return finished
    for line in lines:
        try:
            entry = json.loads(line)
            for product in entry["outputs"]:
                finished[product] = entry["fingerprint"]
        except (ValueError, KeyError, TypeError):  # a line cut by a kill
            continue
    return finished


def _read_salvaged(path):
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_json(path, value):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(tmp, path)


def salvage(incomplete, state_dir=STATE_DIR):
    """Keep aside, by hard link, each marked product whose job the journal records.

    ``incomplete`` are the paths Snakemake marks incomplete; of those, each that
    exists and whose job the journal records is kept.

    Salvages of earlier runs whose product is no longer marked incomplete are removed.
    The journal is emptied: what it says about the products now marked is in the
    salvage record. Returns the products salvaged (already or now), sorted.
    """
    state_dir = Path(state_dir)
    journal, record_file = state_dir / _JOURNAL, state_dir / _SALVAGED
    marked = {_key(p) for p in incomplete}
    salvaged = {}
    for link, entry in _read_salvaged(record_file).items():
        if isinstance(entry, dict) and entry.get("product") in marked and os.path.isfile(link):
            salvaged[link] = entry
        else:
            Path(link).unlink(missing_ok=True)
    whole = sorted(p for p in marked if os.path.isfile(p))
    if whole and journal.is_file():
        finished = _read_journal(journal)
        for product in whole:
            fp = finished.get(product)
            link = str(salvage_path(product))
            if fp is None or link in salvaged:
                continue
            try:
                Path(link).unlink(missing_ok=True)
                os.link(product, link)
            except OSError:  # no hard links here: the exposure is processed again
                continue
            salvaged[link] = {"product": product, "fingerprint": fp}
    journal.unlink(missing_ok=True)
    if salvaged:
        state_dir.mkdir(parents=True, exist_ok=True)
        _write_json(record_file, salvaged)
    else:
        record_file.unlink(missing_ok=True)
    return sorted(entry["product"] for entry in salvaged.values())


def reinstate(smk, state_dir=STATE_DIR):
    """Put back the salvaged products of job ``smk`` if a job like it made them.

    Returns the products put back ([] when none): only when the job that made them
    had this job's fingerprint.

    Costs one ``stat`` when nothing is salvaged (every job but a handful after a kill).
    """
    record_file = Path(state_dir) / _SALVAGED
    if not record_file.is_file():
        return []
    record = _read_salvaged(record_file)
    links = {str(salvage_path(_key(p))): _key(p) for p in smk.output}
    entries = [record.get(link) for link in links]
    present = [link for link in links if os.path.isfile(link)]
    if not present:
        return []
    mine = _job_fingerprint(smk)
    if (None in entries or len(present) < len(links)
            or {e.get("fingerprint") for e in entries} != {mine}):
        for link in present:  # made differently, or only in part: process again
            Path(link).unlink(missing_ok=True)
        return []
    record_job(smk, state_dir, mine)  # a kill right after this is covered again
    for link, product in links.items():
        os.replace(link, product)
    return sorted(links.values())
