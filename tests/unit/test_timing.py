"""snakewebb.timing: a job's phases, as its log line gives them."""

import time

from snakewebb import timing


def test_phases_add_up_to_the_total():
    entered = time.perf_counter()
    time.sleep(0)  # no sleeping: phases are differences of one clock
    timing.start(entered)
    timing.mark("imports")
    timing.mark("open")
    timing.mark("open")  # a phase marked twice adds up
    phases = timing.phases()
    assert list(phases) == ["start", "imports", "open", "total"]
    assert all(seconds >= 0 for seconds in phases.values())
    assert phases["start"] > 0  # this interpreter has lived a while
    inside = phases["imports"] + phases["open"]
    assert phases["total"] >= phases["start"] + inside - 1e-9


def test_summary_is_name_equals_seconds():
    timing.start()
    timing.mark("science")
    text = timing.summary()
    names = [pair.split("=")[0] for pair in text.split()]
    assert names == ["start", "science", "total"]
    assert all(float(pair.split("=")[1]) >= 0 for pair in text.split())


def test_process_age_is_this_process_lifetime():
    age = timing.process_age()
    assert age is not None and 0 < age < 24 * 3600
