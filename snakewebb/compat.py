"""Adapters to the internals of dependencies, each guarded by the versions it was checked on.

This is the one module allowed to reach into a library's private API (Snakemake's are
in ``rules/compat.smk``). The asdf adapters change speed only, never a result, and do
nothing outside the versions they name; :func:`forget_crds_state` keeps a process that
switches CRDS caches from reusing another cache's mappings.
"""

import atexit
import hashlib
import logging
import os
import pickle
import re
import sys
import tempfile
from pathlib import Path

__all__ = ["speed_up_asdf_yaml", "YamlDocumentCache", "forget_crds_state"]

log = logging.getLogger(__name__)

#: asdf releases whose ``ManifestExtension.from_uri`` calls ``yaml.safe_load`` through the
#: module attribute ``asdf.extension._manifest.yaml`` (checked on 5.1 to 5.4).
_ASDF_MANIFEST_VERSIONS = ((5, 1), (6, 0))


#: crds releases whose ``crds.core.config.CRDS_REF_SUBDIR_MODE`` caches the layout of the
#: cache first seen (checked on 13.x and 14.0).
_CRDS_VERSIONS = ((11, 0), (15, 0))


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:2])


def _in_range(version, versions):
    low, high = versions
    return low <= _version_tuple(version) < high


class YamlDocumentCache:
    """Parsed YAML documents by the digest of their text, kept in one pickle file.

    Every job parses the same ~130 asdf manifests and schemas (0.1 s of CPU even with
    the C parser); unpickling them takes a millisecond. A document is looked up by the
    SHA-1 of its loader and text, so a changed schema is simply a new entry; each hit is
    unpickled afresh, so a caller that changes what it gets changes nobody else's copy.
    New entries are merged into the file when the process exits (written beside it and
    renamed into place: concurrent jobs never see half a file). A file that is not this
    user's, or not readable, is ignored; an unwritable directory only costs the speed.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._entries = None
        self._new = {}

    def _load_file(self):
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_uid != os.getuid():
                    return {}
                entries = pickle.load(handle)
            return entries if isinstance(entries, dict) else {}
        except Exception:  # noqa: BLE001 - missing, truncated or foreign: start afresh
            return {}

    def load(self, text, loader_name, parse):
        """``parse(text)``, or its cached result for the same loader and text."""
        if self._entries is None:
            self._entries = self._load_file()
            if not self._new:
                atexit.register(self.save)
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        key = hashlib.sha1(loader_name.encode() + b"\0" + raw).hexdigest()
        blob = self._entries.get(key)
        if blob is not None:
            try:
                return pickle.loads(blob)
            except Exception:  # noqa: BLE001 - an entry pickled by other classes: reparse
                pass
        document = parse(text)
        try:
            blob = pickle.dumps(document, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - not picklable: never cached
            return document
        self._entries[key] = self._new[key] = blob
        return document

    def save(self):
        """Merge this process's new entries into the file (nothing to do without any)."""
        if not self._new:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            entries = self._load_file()
            entries.update(self._new)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(entries, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._new = {}
        except OSError as exc:
            log.debug("YAML document cache not written: %s", exc)


def _cache_path():
    """Per user, per Python and PyYAML version (pickles of their objects)."""
    import yaml

    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = f"asdf-yaml-py{sys.version_info[0]}{sys.version_info[1]}-pyyaml{yaml.__version__}.pickle"
    return Path(root, "snakewebb", name)


class _LibyamlSafeLoad:
    """Stands in for the ``yaml`` module inside asdf's manifest module.

    Its ``safe_load`` uses PyYAML's C parser, through the document cache. The constructor
    (what each node becomes) is PyYAML's own SafeConstructor either way, so the documents
    are the same.
    """

    def __init__(self, yaml, cache):
        self._parse = lambda text: yaml.load(text, Loader=yaml.CSafeLoader)
        self._cache = cache

    def safe_load(self, text):
        if isinstance(text, (str, bytes)):
            return self._cache.load(text, "safe", self._parse)
        return self._parse(text)

    def __getattr__(self, name):  # anything else asdf may ask of the module
        import yaml

        return getattr(yaml, name)


class _CachedSchemaYaml:
    """Stands in for the ``yaml`` module inside ``asdf.schema``.

    Its ``yaml.load(content, Loader=AsdfLoader)`` of a schema's text goes through the
    document cache.
    """

    def __init__(self, yaml, cache, loader):
        self._yaml, self._cache, self._loader = yaml, cache, loader

    def load(self, stream, Loader):  # PyYAML's own keyword
        if Loader is self._loader and isinstance(stream, (str, bytes)):
            return self._cache.load(stream, "asdf", lambda text: self._yaml.load(
                text, Loader=Loader))
        return self._yaml.load(stream, Loader=Loader)

    def __getattr__(self, name):
        return getattr(self._yaml, name)


_CACHE = None


def speed_up_asdf_yaml(cache=None):
    """Parse asdf's manifests with PyYAML's C loader, cached across processes.

    Parsed manifests and schemas are remembered across processes; True if it was
    switched.

    The first datamodel a process opens makes asdf load every installed plugin's
    extension manifests (about 50 YAML documents), then the schemas of what it reads and
    writes (about 80). asdf reads its schemas with the C loader when PyYAML has it, but
    its manifests with ``yaml.safe_load``, the pure-Python parser: ~0.3 s of every job
    that opens a product, and parsing all of them with the C loader still ~0.1 s. The
    upstream fixes: one line in ``asdf.extension._manifest.ManifestExtension.from_uri``
    (``yaml.load(..., Loader=asdf.versioning._yaml_base_loader)``, the loader asdf's
    schemas already use), and a parsed-resource cache in asdf's resource manager.

    Does nothing (returns False) for an asdf outside the checked versions, without
    libyaml, or when its modules no longer look as expected.

    Parameters
    ----------
    cache : YamlDocumentCache or None
        Where parsed documents are kept; default one file per user under
        ``$XDG_CACHE_HOME/snakewebb`` (``~/.cache/snakewebb``).
    """
    global _CACHE
    try:
        import asdf
        import yaml
        from asdf import schema, yamlutil
        from asdf.extension import _manifest
    except ImportError:
        return False
    if not _in_range(asdf.__version__, _ASDF_MANIFEST_VERSIONS):
        log.debug("asdf %s: manifests parsed as asdf does", asdf.__version__)
        return False
    if not getattr(yaml, "__with_libyaml__", False):
        return False
    manifest_yaml = getattr(_manifest, "yaml", None)
    schema_yaml = getattr(schema, "yaml", None)
    if not (manifest_yaml is yaml or isinstance(manifest_yaml, _LibyamlSafeLoad)):
        return False
    if not (schema_yaml is yaml or isinstance(schema_yaml, _CachedSchemaYaml)):
        return False
    if cache is None:
        _CACHE = _CACHE or YamlDocumentCache(_cache_path())
        cache = _CACHE
    _manifest.yaml = _LibyamlSafeLoad(yaml, cache)
    schema.yaml = _CachedSchemaYaml(yaml, cache, yamlutil.AsdfLoader)
    return True


def forget_crds_state():
    """Drop what an imported crds remembers of another cache (mappings, layout).

    Two caches may hold different mappings under the same names (``jwst_0001.pmap``),
    so a process that switches caches must not reuse crds's in-memory copies:
    ``crds.core.utils.clear_function_caches`` (public) drops the mappings, and the
    reference-directory layout crds cached from the first cache is reset (a module
    global, only for the crds versions checked). Does nothing if crds is not imported.
    """
    if "crds" not in sys.modules:
        return
    import crds
    from crds.core import config, utils

    utils.clear_function_caches()
    if _in_range(crds.__version__, _CRDS_VERSIONS):
        config.CRDS_REF_SUBDIR_MODE = "None"
    else:
        log.debug("crds %s: its reference layout cache is left alone", crds.__version__)
