"""snakewebb.resume: products finished just before a kill are kept aside and put back
only for a job that would make them the same way."""

import json
import os
from types import SimpleNamespace

from snakewebb import resume


class _Named(list):
    """Snakemake's Namedlist, as much as resume reads of it."""

    def __init__(self, items=(), **named):
        super().__init__(items)
        self._named = named

    def items(self):
        return self._named.items()


def _job(tmp_path, *, options=None, rule="calibrate", context="jwst_0002.pmap"):
    science = tmp_path / "expo_rate.fits"
    if not science.exists():
        science.write_bytes(b"rate")
    out = tmp_path / "results" / "expo_cal.fits"
    out.parent.mkdir(exist_ok=True)
    return SimpleNamespace(
        rule=rule, wildcards=_Named(exposure="expo"), input=_Named([str(science)]),
        output=_Named([str(out)]), params=_Named(options=options or {"sigma": 3.0}),
        log=[str(tmp_path / "expo.log")], config={"crds_context": context})


def _finish(job, state):
    """The job records itself, then writes its product (by rename, as snakewebb.io)."""
    resume.record_job(job, state)
    pending = os.path.join(os.path.dirname(job.output[0]), ".pending")
    with open(pending, "wb") as handle:
        handle.write(b"calibrated")
    os.replace(pending, job.output[0])


def test_fingerprint_follows_inputs_params_outputs_and_context(tmp_path):
    job = _job(tmp_path)
    base = resume._job_fingerprint(job)
    assert resume._job_fingerprint(_job(tmp_path)) == base
    assert resume._job_fingerprint(_job(tmp_path, options={"sigma": 2.5})) != base
    assert resume._job_fingerprint(_job(tmp_path, rule="other")) != base
    assert resume._job_fingerprint(_job(tmp_path, context="jwst_0001.pmap")) != base
    os.utime(job.input[0], ns=(1, 1))
    assert resume._job_fingerprint(job) != base


def test_finished_product_is_reinstated_with_its_inode(tmp_path):
    state = tmp_path / "state"
    job = _job(tmp_path)
    _finish(job, state)
    inode = os.stat(job.output[0]).st_ino

    assert resume.salvage([job.output[0]], state) == [os.path.abspath(job.output[0])]
    assert not (state / "jobs.jsonl").exists()
    os.unlink(job.output[0])  # Snakemake removes the outputs of a job it reruns
    assert resume.reinstate(job, state) == [os.path.abspath(job.output[0])]
    assert os.stat(job.output[0]).st_ino == inode
    assert not resume.salvage_path(job.output[0]).exists()
    # the next main process drops the record: the product is no longer marked
    assert resume.salvage([], state) == []
    assert not (state / "salvaged.json").exists()


def test_a_job_that_would_make_it_differently_discards_the_salvage(tmp_path):
    state = tmp_path / "state"
    job = _job(tmp_path)
    _finish(job, state)
    resume.salvage([job.output[0]], state)
    os.unlink(job.output[0])
    changed = _job(tmp_path, options={"sigma": 2.5})
    assert resume.reinstate(changed, state) == []
    assert not os.path.exists(job.output[0])
    assert not resume.salvage_path(job.output[0]).exists()


def test_only_journalled_products_marked_incomplete_are_kept(tmp_path):
    """A product present but not journalled (the journal lost, an older version's
    job) is processed again; so is one not marked incomplete."""
    state = tmp_path / "state"
    job = _job(tmp_path)
    _finish(job, state)
    (state / "jobs.jsonl").write_text("")
    assert resume.salvage([job.output[0]], state) == []
    _finish(job, state)
    assert resume.salvage([], state) == []
    assert not resume.salvage_path(job.output[0]).exists()


def test_salvage_of_an_earlier_run_is_dropped_once_the_product_is_no_longer_marked(tmp_path):
    state = tmp_path / "state"
    job = _job(tmp_path)
    _finish(job, state)
    resume.salvage([job.output[0]], state)
    link = resume.salvage_path(job.output[0])
    assert link.exists()
    # a dry run in between keeps it; a run where the job is no longer marked drops it
    assert resume.salvage([job.output[0]], state) == [os.path.abspath(job.output[0])]
    assert resume.salvage([], state) == []
    assert not link.exists() and os.path.exists(job.output[0])


def test_a_journal_line_cut_by_a_kill_is_ignored(tmp_path):
    state = tmp_path / "state"
    job = _job(tmp_path)
    _finish(job, state)
    with open(state / "jobs.jsonl", "a") as journal:
        journal.write('{"outputs": ["/x"], "fingerpr')
    assert resume.salvage([job.output[0]], state) == [os.path.abspath(job.output[0])]
    record = json.loads((state / "salvaged.json").read_text())
    assert list(record) == [str(resume.salvage_path(os.path.abspath(job.output[0])))]


def test_nothing_salvaged_costs_one_stat(tmp_path):
    job = _job(tmp_path)
    assert resume.reinstate(job, tmp_path / "nowhere") == []
