"""Command line: ``snakewebb simulate OUTDIR [--exposures N] [--seed S]``.

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
