"""Shared fixtures: one simulated campaign per test session, and its CRDS environment."""

import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests can import helpers and oracle

from helpers.models import write_nircam_refs
from helpers.wcs import write_wcs_references
from oracle import crds_environment
from snakewebb.references import CRDS_VARIABLES

#: Exposures in the session campaign: the default 24 covers every mode.
CAMPAIGN_EXPOSURES = int(os.environ.get("SNAKEWEBB_TEST_EXPOSURES", "24"))


@dataclass
class Campaign:
    """Paths of the session's simulated campaign."""

    root: Path
    rate: Path
    asn: Path
    truth: Path
    crds: Path
    contexts: list
    specs: dict = field(default_factory=dict)     # exposure name -> ExposureSpec
    files: dict = field(default_factory=dict)     # exposure name -> _rate/_rateints path
    asns: dict = field(default_factory=dict)      # exposure name -> ASN path
    seconds: float = 0.0

    @property
    def context(self):
        """The first (oldest) context."""
        return self.contexts[0]

    def first(self, exp_type, *, cube=None, backgrounds=None, role="science"):
        """Name of the first exposure of ``exp_type`` matching the optional filters."""
        for name, spec in self.specs.items():
            if spec.exp_type != exp_type or spec.role != role:
                continue
            if cube is not None and spec.is_cube != cube:
                continue
            if backgrounds is not None and bool(spec.backgrounds) != backgrounds:
                continue
            return name
        raise LookupError(f"no {exp_type} exposure in the campaign")


@pytest.fixture(scope="session")
def campaign(tmp_path_factory):
    """A simulated campaign (default 24 exposures, seed 0), written once per session."""
    from snakewebb.simulate import simulate_campaign

    root = tmp_path_factory.mktemp("campaign")
    result = simulate_campaign(root, n_exposures=CAMPAIGN_EXPOSURES, seed=0)
    return Campaign(
        root=result["root"], rate=result["rate"], asn=result["asn"], truth=result["truth"],
        crds=result["crds"], contexts=result["contexts"],
        specs={s.name: s for s in result["specs"]}, files=result["files"],
        asns=result["asns"], seconds=result["seconds"],
    )


@pytest.fixture(scope="session")
def crds_env(campaign):
    """Environment variables for running jwst offline on the campaign's cache (a dict)."""
    return crds_environment(campaign.crds, campaign.context)


# crds writes defaults of its own settings into os.environ when first imported (CRDS_MODE,
# CRDS_CLIENT_TIMEOUT_SECONDS, ...): imported before any test, so that the check below
# sees what code under test changes, not what importing crds does.
importlib.import_module("crds")


@pytest.fixture(autouse=True)
def crds_environment_untouched():
    """No test leaves a CRDS variable of os.environ changed: the package passes its CRDS
    settings explicitly and sets them for crds only around crds's own calls."""
    before = {key: os.environ.get(key) for key in CRDS_VARIABLES}
    yield
    after = {key: os.environ.get(key) for key in CRDS_VARIABLES}
    assert after == before, "os.environ's CRDS variables changed"


@pytest.fixture
def refs(tmp_path):
    """NIRCam FLAT, PHOTOM and AREA references for ``helpers.models.write_science``."""
    return write_nircam_refs(tmp_path)


@pytest.fixture(scope="module")
def reffiles(tmp_path_factory):
    """DISTORTION and FILTEROFFSET references for every ``helpers.wcs.CASES`` case."""
    return write_wcs_references(tmp_path_factory.mktemp("refs"))
