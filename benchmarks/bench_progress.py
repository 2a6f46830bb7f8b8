"""What Snakemake's rich logger plugin costs on a long campaign, against the default log.

Runs the same trivial workflow of N jobs (each a ``shell:`` command writing one small file,
so that Snakemake's own per-job work, the logging included, is all there is) twice in a
row, in a fresh directory each: once with Snakemake's default output and once with
``--logger rich`` (``pip install snakemake-logger-plugin-rich``), both on a pseudo-terminal
(``script``) as a user's terminal would be, and prints wall time and the bytes and lines
written to the terminal, with the ratio. Alternates the order over ``--repeat`` rounds.

``--dry-run`` plans the jobs without running them (every job is still announced to the
logger): at 10,000 jobs that is what can be timed here, since running 10,000 jobs takes
Snakemake's local scheduler hours on 2 cores whatever the logger.

    python benchmarks/bench_progress.py --jobs 10000 --dry-run
    python benchmarks/bench_progress.py --jobs 1000
"""

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """
N = int(config["njobs"])

rule all:
    input:
        expand("out/{i}.txt", i=range(N)),

rule job:
    output:
        "out/{i}.txt",
    shell:
        "echo {wildcards.i} > {output}"
"""


def run_once(n, logger, cores, dry_run=False):
    """(seconds, bytes, lines) of one run in a fresh directory on a pseudo-terminal."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory(prefix="bench_progress_") as tmp:
        tmp = Path(tmp)
        (tmp / "Snakefile").write_text(SNAKEFILE)
        command = [snakemake, "--cores", str(cores), "--config", f"njobs={n}", "--quiet", "host"]
        if logger:
            command += ["--logger", logger]
        if dry_run:
            command.append("--dry-run")
        typescript = tmp / "terminal.txt"
        start = time.perf_counter()
        # script ends the session at end of input: keep its stdin open until it is done
        process = subprocess.Popen(["script", "-qec", shlex.join(command), str(typescript)],
                                   cwd=tmp, stdout=subprocess.DEVNULL, stdin=subprocess.PIPE)
        if process.wait() != 0:
            raise SystemExit(f"snakemake failed ({logger or 'default'} logger)")
        process.stdin.close()
        seconds = time.perf_counter() - start
        text = typescript.read_bytes()
        done = len(list((tmp / "out").glob("*.txt"))) if (tmp / "out").is_dir() else 0
        if done != (0 if dry_run else n):
            raise SystemExit(f"only {done} of {n} jobs ran ({logger or 'default'} logger)")
    return seconds, len(text), text.count(b"\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="plan only (snakemake -n)")
    args = parser.parse_args()
    if shutil.which("script") is None:
        raise SystemExit("needs `script` (util-linux) for a pseudo-terminal")
    results = {"default": [], "rich": []}
    for round_ in range(args.repeat):
        order = ("default", "rich") if round_ % 2 == 0 else ("rich", "default")
        for name in order:
            results[name].append(run_once(args.jobs, None if name == "default" else "rich",
                                          args.cores, args.dry_run))
            seconds, size, lines = results[name][-1]
            print(f"{name:8s} {args.jobs} jobs{' (dry run)' if args.dry_run else ''}: "
                  f"{seconds:7.1f} s, {size / 1e6:6.2f} MB, "
                  f"{lines} lines on the terminal", flush=True)
    best = {name: min(r[0] for r in runs) for name, runs in results.items()}
    print(f"rich / default wall time (best of {args.repeat}): "
          f"{best['rich'] / best['default']:.2f}")


if __name__ == "__main__":
    main()
