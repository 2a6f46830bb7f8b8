# Snakemake internals the workflow relies on, in one place, behind a version guard.
#
# input_function(): for every job Snakemake inspects an input function's parameters
# twice (inspect.signature, to know whether it wants `input`, `groupid`, ...): ~0.5 s
# of a 10,000-exposure dry run (benchmarks/bench_campaign_10k.py). Snakemake's own
# wrappers (subpath(), ...) record the parameters once on the function with
# snakemake.common.overwrite_function_params; so do we. The function and what it is
# called with are unchanged. Outside the tested releases (9.x), or when the helper is
# gone, the decorator does nothing and planning costs a little more.
import snakemake as _snakemake

_SNAKEMAKE_MAJOR = int(_snakemake.__version__.split(".")[0])
get_function_params = overwrite_function_params = None
if _SNAKEMAKE_MAJOR == 9:
    try:
        from snakemake.common import get_function_params, overwrite_function_params
    except ImportError:
        pass


def input_function(func):
    """Mark ``func`` as an input function whose parameters Snakemake need not inspect."""
    if overwrite_function_params is not None:
        overwrite_function_params(func, get_function_params(func))
    return func
