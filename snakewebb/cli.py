"""Command line of snakewebb: ``simulate``, ``impact`` and ``status``.

``snakewebb simulate OUTDIR [--exposures N] [--seed S]``,
``snakewebb impact OUTPUT_DIR --context NEW.pmap [--crds-path PATH]``,
``snakewebb status [OUTPUT_DIR] [--logs DIR] [--asn PATTERN ...]``.

Errors a user can act on print one line on stderr and exit with status 2.
"""

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"snakewebb: error: {message}\n")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parser():
    parser = _Parser(prog="snakewebb", description="JWST stage-2 imaging reprocessing")
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="write the simulated demo campaign")
    sim.add_argument("outdir", help="output directory (rate/, asn/, truth/, crds/)")
    sim.add_argument("--exposures", type=_positive, default=24, metavar="N",
                     help="number of exposures (>= 1; default 24 covers every mode)")
    sim.add_argument("--seed", type=int, default=0, metavar="S", help="random seed")
    sim.add_argument("-v", "--verbose", action="store_true", help="log progress")
    imp = sub.add_parser("impact", help="which exposures a new CRDS context would change")
    imp.add_argument("output_dir", help="a campaign's output directory (its _cal/_calints)")
    imp.add_argument("--context", required=True, metavar="NEW.pmap", help="the new context")
    imp.add_argument("--crds-path", metavar="PATH", help="CRDS cache (default $CRDS_PATH)")
    imp.add_argument("-v", "--verbose", action="store_true", help="log progress")
    stat = sub.add_parser("status", help="products done, jobs failed (and why), pending")
    stat.add_argument("output_dir", nargs="?", default="results",
                      help="the campaign's output directory (default results)")
    stat.add_argument("--logs", default="logs", metavar="DIR",
                      help="the workflow's logs/ directory (default logs)")
    stat.add_argument("--asn", nargs="+", default=(), metavar="PATTERN",
                      help="the campaign's ASN files: their exposures not started are pending")
    stat.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def _check_writable(outdir):
    """None if files can be created under ``outdir``, else a one-line reason.

    Tries for real: a probe file is created (and removed) in ``outdir`` or, when it does
    not exist yet, in its nearest existing ancestor. ``os.access`` is not enough (root is
    told everything is writable, even on a read-only file system).
    """
    path = Path(outdir)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{outdir}: not a directory ({probe} is a file)"
    try:
        fd, name = tempfile.mkstemp(prefix=".snakewebb-probe-", dir=probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        return f"{outdir}: cannot create files in {probe} ({reason})"
    os.close(fd)
    os.unlink(name)
    return None


def main(argv=None):
    """Entry point of the ``snakewebb`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "simulate":
        problem = _check_writable(args.outdir)
        if problem:
            print(f"snakewebb: error: {problem}", file=sys.stderr)
            return 2
        from .errors import SnakewebbError
        from .simulate import simulate_campaign

        try:
            result = simulate_campaign(args.outdir, n_exposures=args.exposures,
                                       seed=args.seed)
        except (SnakewebbError, OSError, ValueError) as err:
            print(f"snakewebb: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        n = len(result["specs"])
        print(f"{n} exposure{'' if n == 1 else 's'} in {result['root']} "
              f"({result['seconds']:.1f} s; contexts {', '.join(result['contexts'])})")
    elif args.command in ("impact", "status"):
        from .errors import SnakewebbError

        try:
            lines = _impact(args) if args.command == "impact" else _status(args)
        except SnakewebbError as err:
            print(f"snakewebb: error: {err}", file=sys.stderr)
            return 2
        print("\n".join(lines))
    return 0


def _impact(args):
    from .impact import context_impact, format_impact

    return format_impact(context_impact(args.output_dir, args.context,
                                        crds_path=args.crds_path))


def _status(args):
    from .status import campaign_status, format_status

    return format_status(campaign_status(args.output_dir, logs_dir=args.logs,
                                         exposures=_asn_exposures(args.asn)),
                         output_dir=args.output_dir)


def _asn_exposures(patterns):
    """Product names of the ASN files matching ``patterns`` (each must match one)."""
    import glob

    from .errors import SnakewebbError
    from .exposures import read_asn

    names = set()
    for pattern in patterns:
        files = sorted(glob.glob(pattern))
        if not files:
            raise SnakewebbError(f"--asn {pattern}: no such file")
        for path in files:
            names.update(product["name"] for product in read_asn(path))
    return names


if __name__ == "__main__":
    sys.exit(main())
