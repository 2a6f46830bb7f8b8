"""Step layer: reference lookup, skip decisions and provenance around the pure algorithms."""

from snakewebb.compat import speed_up_asdf_yaml

# Every step opens datamodels: asdf parses its manifests with the C loader (speed only).
# Here rather than in the package's __init__, so that what never opens a product (the
# workflow's planning, the CLI) does not import asdf for it.
speed_up_asdf_yaml()
