"""Campaign inputs the tests make: image2 ASN files and edited copies of products."""

import json
from pathlib import Path

from astropy.io import fits


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


def rewrite_product(src, dst, *, primary=None, sci_delete=(), keep_asdf=True, arrays=None):
    """Copy a product to ``dst`` (returned) with primary keywords changed (None deletes),
    SCI keywords deleted, or arrays replaced (``{"SCI": fn(array) -> array}``).

    ``keep_asdf=False`` leaves the ASDF tree out, which would otherwise restore the
    keywords when the copy is opened as a datamodel.
    """
    with fits.open(src) as hdul:
        kept = fits.HDUList([hdu.copy() for hdu in hdul if keep_asdf or hdu.name != "ASDF"])
    for key, value in (primary or {}).items():
        if value is None:
            del kept[0].header[key]
        else:
            kept[0].header[key] = value
    for key in sci_delete:
        del kept["SCI"].header[key]
    for name, change in (arrays or {}).items():
        kept[name].data = change(kept[name].data)
    kept.writeto(dst)
    return dst
