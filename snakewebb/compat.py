"""Adapters to the internals of dependencies, each guarded by the versions it was checked on.

This is the one module allowed to reach into a library's private API. Every adapter
changes speed only, never a result, and does nothing outside the versions it names.
"""

import functools
import logging
import re

__all__ = ["use_libyaml_for_asdf_manifests"]

log = logging.getLogger(__name__)

#: asdf releases whose ``ManifestExtension.from_uri`` calls ``yaml.safe_load`` through the
#: module attribute ``asdf.extension._manifest.yaml`` (checked on 5.1 to 5.4).
_ASDF_MANIFEST_VERSIONS = ((5, 1), (6, 0))


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:2])


def _in_range(version, versions):
    low, high = versions
    return low <= _version_tuple(version) < high


class _LibyamlSafeLoad:
    """Stands in for the ``yaml`` module inside asdf's manifest module: ``safe_load`` with
    PyYAML's C parser. The constructor (what each node becomes) is PyYAML's own
    SafeConstructor either way, so the documents are the same; only parsing is faster."""

    def __init__(self, yaml):
        self.safe_load = functools.partial(yaml.load, Loader=yaml.CSafeLoader)

    def __getattr__(self, name):  # anything else asdf may ask of the module
        import yaml

        return getattr(yaml, name)


def use_libyaml_for_asdf_manifests():
    """Parse asdf's extension manifests with PyYAML's C loader; True if it was switched.

    The first datamodel a process opens makes asdf load every installed plugin's
    extension manifests (about 50 YAML documents). asdf reads its schemas with the C
    loader when PyYAML has it, but its manifests with ``yaml.safe_load``, the pure-Python
    parser: ~0.3 s of every job that opens a product. The upstream fix is one line in
    ``asdf.extension._manifest.ManifestExtension.from_uri`` (``yaml.load(..., Loader=
    asdf.versioning._yaml_base_loader)``, the loader asdf's schemas already use).

    Does nothing (returns False) for an asdf outside the checked versions, without
    libyaml, or when the module no longer looks as expected.
    """
    try:
        import asdf
        import yaml
        from asdf.extension import _manifest
    except ImportError:
        return False
    if not _in_range(asdf.__version__, _ASDF_MANIFEST_VERSIONS):
        log.debug("asdf %s: manifests parsed as asdf does", asdf.__version__)
        return False
    if not getattr(yaml, "__with_libyaml__", False):
        return False
    current = getattr(_manifest, "yaml", None)
    if isinstance(current, _LibyamlSafeLoad):
        return True
    if current is not yaml:
        return False
    _manifest.yaml = _LibyamlSafeLoad(yaml)
    return True
