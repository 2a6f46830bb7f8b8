"""The simulated campaign: design, determinism, CLI errors, and fidelity through jwst 3.0.0."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from oracle import run_official_image2
from snakewebb import modes
from snakewebb.simulate.campaign import design_campaign

ALL_MODES = ("NRC_IMAGE", "MIR_IMAGE", "NIS_IMAGE", "FGS_IMAGE", "NRC_TSIMAGE")


@pytest.mark.parametrize("n", [1, 7, 24, 50])
def test_every_prefix_is_coherent(n):
    specs = design_campaign(n)
    names = [s.name for s in specs]
    assert len(specs) == n and len(set(names)) == n
    for i, spec in enumerate(specs):
        for bkg in spec.backgrounds:
            assert bkg in names[:i], f"{spec.name} names {bkg} before it is made"


def test_default_campaign_covers_every_mode():
    specs = design_campaign(24)
    types = {s.exp_type for s in specs}
    assert set(ALL_MODES) <= types
    assert any(s.exp_type == "MIR_IMAGE" and s.tsovisit and s.is_cube for s in specs)
    assert any(s.exp_type == "NRC_TSIMAGE" and s.is_cube for s in specs)
    assert any(s.backgrounds for s in specs)
    for inst in ("NIRCAM", "MIRI"):
        subs = {s.subarray for s in specs if s.instrument == inst and not s.is_cube}
        assert "FULL" in subs and len(subs) >= 2, (inst, subs)
    nircam = {s.detector for s in specs if s.exp_type == "NRC_IMAGE"}
    assert {"NRCALONG"} < nircam and len(nircam) >= 3
    nis = [s for s in specs if s.exp_type == "NIS_IMAGE"]
    assert ("CLEAR", "F150W") in {(s.filter, s.pupil) for s in nis}


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "snakewebb.cli", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, words", [
    (["simulate", "OUT", "--exposures", "0"], "at least 1"),
    (["simulate", "OUT", "--exposures", "many"], "not an integer"),
])
def test_cli_bad_count_is_one_line(tmp_path, args, words):
    args = [str(tmp_path / a) if a == "OUT" else a for a in args]
    proc = _run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "OUT").exists()


def test_cli_unwritable_outdir_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    proc = _run_cli("simulate", str(blocker / "out"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker) in lines[0], proc.stderr


def test_cli_outdir_where_no_file_can_be_created(tmp_path):
    """os.access says yes to root everywhere; the CLI tries a real file before any work."""
    if os.geteuid() == 0:
        parent = Path("/proc")            # no regular file can be created there, even by root
    else:
        parent = tmp_path / "locked"
        parent.mkdir()
        parent.chmod(0o500)
    outdir = parent / "snakewebb-out"
    proc = _run_cli("simulate", str(outdir))
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(outdir) in lines[0] and "cannot create" in lines[0], lines
    assert not outdir.exists()


def test_cli_success_prints_one_line_and_nothing_on_stderr(tmp_path):
    """No library noise (pysiaf's offline notice, deprecation warnings) on the terminal."""
    proc = _run_cli("simulate", str(tmp_path / "out"), "--exposures", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("1 exposure in "), lines
    assert len(list((tmp_path / "out" / "rate").glob("*_rate*.fits"))) == 1


def _arrays(path):
    from astropy.io import fits

    with fits.open(path) as hdul:
        return {h.name: np.array(h.data) for h in hdul if h.data is not None
                and h.name in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE")}


def test_deterministic_for_a_seed(tmp_path):
    from snakewebb.simulate import simulate_campaign

    a = simulate_campaign(tmp_path / "a", n_exposures=1, seed=7)
    b = simulate_campaign(tmp_path / "b", n_exposures=1, seed=7)
    c = simulate_campaign(tmp_path / "c", n_exposures=1, seed=8)
    name = a["specs"][0].name
    arr_a, arr_b, arr_c = (_arrays(r["files"][name]) for r in (a, b, c))
    assert set(arr_a) == {"SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"}
    for ext in arr_a:
        np.testing.assert_array_equal(arr_a[ext], arr_b[ext])
    assert not np.array_equal(arr_a["SCI"], arr_c["SCI"], equal_nan=True)
    truth = f"{name}_truth.ecsv"
    assert (a["truth"] / truth).read_text() == (b["truth"] / truth).read_text()
    assert sorted(p.name for p in a["asn"].iterdir()) == sorted(p.name for p in b["asn"].iterdir())


def test_rate_products_look_real(campaign):
    from stdatamodels.jwst import datamodels

    for name, spec in campaign.specs.items():
        path = campaign.files[name]
        assert path.name == f"{name}_{spec.suffix}.fits"
        with datamodels.open(path) as m:
            assert m.meta.exposure.type == spec.exp_type
            assert m.meta.wcsinfo.v2_ref is not None and m.meta.velocity_aberration.scale_factor
            assert (m.meta.subarray.xsize, m.meta.subarray.ysize) == m.data.shape[-1:-3:-1]
            bad = (np.asarray(m.dq) & 1) > 0
            assert np.isnan(m.data[..., bad]).all() and np.isfinite(m.data[..., ~bad]).all()
            if spec.is_cube:
                assert len(m.int_times) == spec.nints
            if spec.instrument != "MIRI" and spec.subarray == "FULL":
                assert (m.dq[..., :4, :] & (1 << 31)).all()


def _oracle_cases():
    return [
        ("NRC_IMAGE", dict(cube=False)),
        ("MIR_IMAGE", dict(cube=False, backgrounds=True)),
        ("MIR_IMAGE", dict(cube=True)),
        ("NIS_IMAGE", dict()),
        ("FGS_IMAGE", dict()),
        ("NRC_TSIMAGE", dict()),
    ]


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("exp_type, select", _oracle_cases(),
                         ids=["nrc", "mir_bkg", "mir_tso", "nis", "fgs", "nrc_tso"])
def test_official_image2_runs_every_step(campaign, tmp_path_factory, exp_type, select):
    from astropy.io import fits

    name = campaign.first(exp_type, **select)
    spec = campaign.specs[name]
    out = run_official_image2(campaign.asns[name], campaign.root / "official",
                              crds_path=campaign.crds, context=campaign.context)
    suffix = modes.cal_suffix(spec.is_cube)
    assert suffix in out, out
    header = fits.getheader(out[suffix], 0)
    for key in ("S_WCS", "S_FLAT", "S_PHOTOM"):
        assert header.get(key) == "COMPLETE", (name, key, header.get(key))
    if spec.backgrounds:
        assert header.get("S_BKDSUB") == "COMPLETE"
    # jwst 3.0.0 resamples every 2D imaging exposure, FGS_IMAGE included
    # (calwebb_image2.image_exptypes); note that snakewebb.modes.RESAMPLE_EXP_TYPES
    # leaves FGS out.
    resampled = not spec.is_cube
    assert ("i2d" in out) == resampled
    if resampled:
        assert fits.getheader(out["i2d"], 0).get("S_RESAMP") == "COMPLETE"


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("exp_type", ["NRC_IMAGE", "MIR_IMAGE", "NIS_IMAGE", "FGS_IMAGE",
                                      "NRC_TSIMAGE"])
def test_truth_positions_through_official_wcs(campaign, exp_type):
    from astropy.table import Table
    from stdatamodels.jwst import datamodels

    name = campaign.first(exp_type)
    spec = campaign.specs[name]
    out = run_official_image2(campaign.asns[name], campaign.root / "official",
                              crds_path=campaign.crds, context=campaign.context)
    truth = Table.read(campaign.truth / f"{name}_truth.ecsv")
    assert len(truth) >= 1
    with datamodels.open(out[modes.cal_suffix(spec.is_cube)]) as cal:
        ra, dec = cal.meta.wcs(np.asarray(truth["x"]), np.asarray(truth["y"]),
                               with_bounding_box=False)
    cosd = np.cos(np.radians(np.asarray(truth["dec"])))
    err_mas = np.hypot((ra - truth["ra"]) * cosd, dec - truth["dec"]) * 3.6e6
    print(f"{name}: {len(truth)} sources, median {np.median(err_mas):.2e} mas, "
          f"max {np.max(err_mas):.2e} mas")
    assert np.median(err_mas) < 0.1
    assert np.max(err_mas) < 1.0


# ---------------------------------------------------------------------------------------
# Fidelity: centroids measured in the rendered pixels, through the official WCS
# ---------------------------------------------------------------------------------------

def _isolated_bright_stars(truth, shape, *, n_max=25, half=5, radius=15.0, contrast=1e-4):
    """Indices of truth stars well inside the array with no neighbour that matters.

    A neighbour within ``radius`` pixels must be fainter than ``contrast`` times the star.
    The brightest ``n_max`` such stars are returned, brightest first.
    """
    ny, nx = shape
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    flux = np.asarray(truth["flux"])
    stars = np.flatnonzero(np.asarray(truth["kind"]) != "galaxy")
    keep = []
    for i in stars[np.argsort(-flux[stars])]:
        margin = half + 12
        if not (margin <= x[i] < nx - margin and margin <= y[i] < ny - margin):
            continue
        d = np.hypot(x - x[i], y - y[i])
        near = (d < radius) & (np.arange(len(x)) != i)
        if np.any(flux[near] > contrast * flux[i]):
            continue
        keep.append(i)
        if len(keep) == n_max:
            break
    return keep


def _fit_star(data, err, x0, y0, half=5, sky_in=8, sky_out=12):
    """Position of one point source: a pixel-integrated Gaussian + constant fitted by
    weighted least squares to the (2*half+1)**2 box around (x0, y0), after subtracting the
    median of an annulus (sky_in..sky_out pixels). NaN pixels are left out.

    Returns x, y, and their formal 1-sigma uncertainties (pixels).
    """
    from scipy.optimize import least_squares
    from scipy.special import erf

    ix, iy = int(round(x0)), int(round(y0))
    yy, xx = np.mgrid[iy - sky_out:iy + sky_out + 1, ix - sky_out:ix + sky_out + 1]
    ring = np.hypot(xx - x0, yy - y0)
    patch = data[iy - sky_out:iy + sky_out + 1, ix - sky_out:ix + sky_out + 1]
    sky = np.nanmedian(patch[(ring >= sky_in) & (ring <= sky_out)])
    box = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
    img = data[box] - sky
    sig = err[box]
    good = np.isfinite(img) & np.isfinite(sig) & (sig > 0)
    xs = np.arange(ix - half, ix + half + 1)
    ys = np.arange(iy - half, iy + half + 1)

    def model(p):
        amp, xc, yc, s, c = p
        r = np.sqrt(2.0) * s
        fx = 0.5 * (erf((xs + 0.5 - xc) / r) - erf((xs - 0.5 - xc) / r))
        fy = 0.5 * (erf((ys + 0.5 - yc) / r) - erf((ys - 0.5 - yc) / r))
        return amp * np.outer(fy, fx) + c

    def resid(p):
        return ((model(p) - img) / np.where(good, sig, 1.0))[good]

    p0 = [np.nansum(img), x0, y0, 1.0, 0.0]
    fit = least_squares(resid, p0, x_scale=[abs(p0[0]) + 1, 0.1, 0.1, 0.1, 1.0])
    # covariance scaled by the reduced chi-square (fit.fun are the weighted residuals)
    cov = np.linalg.pinv(fit.jac.T @ fit.jac) * (np.sum(fit.fun**2) / max(1, good.sum() - 5))
    return fit.x[1], fit.x[2], np.sqrt(cov[1, 1]), np.sqrt(cov[2, 2])


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("exp_type", ["NRC_IMAGE", "MIR_IMAGE", "NIS_IMAGE", "FGS_IMAGE"])
def test_measured_centroids_through_official_wcs(campaign, exp_type):
    """Bright isolated stars are found in the _rate pixels where the truth says, and their
    measured positions go through jwst's WCS to the truth sky positions."""
    from astropy.io import fits
    from astropy.table import Table
    from stdatamodels.jwst import datamodels

    name = campaign.first(exp_type)
    spec = campaign.specs[name]
    out = run_official_image2(campaign.asns[name], campaign.root / "official",
                              crds_path=campaign.crds, context=campaign.context)
    truth = Table.read(campaign.truth / f"{name}_truth.ecsv")
    # the _rate pixels, divided by the FLAT the official pipeline used (its pixel-to-pixel
    # structure is not in ERR)
    flat_name = fits.getval(out["cal"], "R_FLAT").replace("crds://", "")
    flat_path = campaign.crds / "references" / "jwst" / spec.instrument.lower() / flat_name
    with fits.open(campaign.files[name]) as hdul, fits.open(flat_path) as flat:
        assert flat["SCI"].data.shape == hdul["SCI"].data.shape  # full-frame exposures
        data = hdul["SCI"].data / flat["SCI"].data.astype(float)
        err = hdul["ERR"].data / flat["SCI"].data.astype(float)
    picked = _isolated_bright_stars(truth, data.shape, n_max=10)
    assert len(picked) >= 3, f"{name}: only {len(picked)} isolated bright stars"
    fits_xy = np.array([_fit_star(data, err, truth["x"][i], truth["y"][i]) for i in picked])
    mx, my, sx, sy = fits_xy.T
    dx = mx - np.asarray(truth["x"][picked])
    dy = my - np.asarray(truth["y"][picked])
    d_pix = np.hypot(dx, dy)

    with datamodels.open(out["cal"]) as cal:
        ra, dec = cal.meta.wcs(mx, my, with_bounding_box=False)
    t_ra = np.asarray(truth["ra"][picked])
    t_dec = np.asarray(truth["dec"][picked])
    d_mas = np.hypot((ra - t_ra) * np.cos(np.radians(t_dec)), dec - t_dec) * 3.6e6
    print(f"\n{name}: {len(picked)} stars; pixel offset median {np.median(d_pix):.4f} px "
          f"(max {d_pix.max():.4f}, formal sigma median {np.median(np.hypot(sx, sy)):.4f}); "
          f"sky offset median {np.median(d_mas):.3f} mas (max {d_mas.max():.3f})")
    # noise-limited: the offsets agree with the fits' own uncertainties ...
    assert np.median(d_pix / np.hypot(sx, sy)) < 3.0
    # ... and are tiny in absolute terms (measured: see docs/simulation.md)
    assert np.median(d_pix) < 0.01
    assert np.median(d_mas) < 0.5
