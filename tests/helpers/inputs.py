"""Campaign inputs the tests make: image2 ASN files and edited copies of products."""

import json
from pathlib import Path

from _common import rewrite_product  # noqa: F401 (one copy, shared with benchmarks/soak.py)


def write_asn(path, products, *, pool="pool"):
    """Write an image2 ASN file at ``path``; return ``path``.

    ``products``: ``{name: science}`` or ``{name: [science, background, ...]}``, member
    names written as given (absolute paths, or names relative to the ASN file);
    ``pool=None`` leaves ``asn_pool`` out.
    """
    def members(files):
        files = [files] if isinstance(files, (str, Path)) else list(files)
        return ([{"expname": str(files[0]), "exptype": "science"}]
                + [{"expname": str(f), "exptype": "background"} for f in files[1:]])

    asn = {"asn_type": "image2", **({"asn_pool": pool} if pool is not None else {}),
           "products": [{"name": name, "members": members(files)}
                        for name, files in products.items()]}
    path.write_text(json.dumps(asn))
    return path
