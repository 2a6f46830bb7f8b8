"""snakewebb.compat: adapters to dependency internals change speed, never a result."""

import os
import pickle
import subprocess
import sys

import pytest
import yaml

from snakewebb import compat

needs_libyaml = pytest.mark.skipif(
    not getattr(yaml, "__with_libyaml__", False),
    reason="PyYAML was built without libyaml: nothing is switched",
)


@pytest.fixture
def asdf_modules(monkeypatch):
    """asdf's manifest and schema modules, restored after the test."""
    from asdf import schema
    from asdf.extension import _manifest

    monkeypatch.setattr(_manifest, "yaml", _manifest.yaml)
    monkeypatch.setattr(schema, "yaml", schema.yaml)
    return _manifest, schema


@needs_libyaml
def test_manifests_parse_the_same_with_the_c_loader():
    """Every asdf manifest installed here: the C loader's document equals PyYAML's own."""
    import asdf

    manager = asdf.get_config().resource_manager
    manifests = [uri for uri in manager if "/manifests/" in uri]
    assert len(manifests) >= 20, manifests
    for uri in manifests:
        text = manager[uri]
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.safe_load(text), uri


def _same(a, b):
    """Equal, of the same types all the way down (asdf's Tagged* carry a tag)."""
    if type(a) is not type(b) or getattr(a, "_tag", None) != getattr(b, "_tag", None):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


def test_every_asdf_resource_comes_back_the_same_from_the_cache(tmp_path):
    """All of asdf's manifests and schemas: parsed, cached, read back by a new cache."""
    import asdf
    from asdf import yamlutil

    manager = asdf.get_config().resource_manager
    path = tmp_path / "docs.pickle"
    first, second = compat.YamlDocumentCache(path), compat.YamlDocumentCache(path)
    parse = lambda text: yaml.load(text, Loader=yamlutil.AsdfLoader)  # noqa: E731
    calls = []
    counted = lambda text: calls.append(1) or parse(text)  # noqa: E731
    uris = [uri for uri in manager if uri.endswith(("-1.0.0", "-1.1.0", "-1.2.0"))][:300]
    assert len(uris) > 100
    expected = {uri: first.load(manager[uri], "asdf", parse) for uri in uris}
    first.save()
    for uri in uris:
        assert _same(second.load(manager[uri], "asdf", counted), expected[uri]), uri
    assert not calls  # every one a hit
    again = second.load(manager[uris[0]], "asdf", counted)
    again["mutated"] = True  # a caller's change stays in its own copy
    assert "mutated" not in second.load(manager[uris[0]], "asdf", counted)


def test_a_damaged_cache_file_is_parsed_afresh_and_rewritten(tmp_path):
    path = tmp_path / "docs.pickle"
    path.write_bytes(b"not a pickle")
    cache = compat.YamlDocumentCache(path)
    assert cache.load("a: 1", "safe", yaml.safe_load) == {"a": 1}
    cache.save()
    assert len(pickle.loads(path.read_bytes())) == 1


def test_an_unwritable_cache_directory_costs_only_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = compat.YamlDocumentCache(blocker / "sub" / "docs.pickle")
    assert cache.load("a: [1, 2]", "safe", yaml.safe_load) == {"a": [1, 2]}
    cache.save()  # no exception


_PROBE = (
    "import sys\n"
    "if sys.argv[1] == 'on':\n"
    "    import snakewebb.steps  # switches on import\n"
    "import asdf\n"
    "from asdf import schema\n"
    "from asdf.extension import _manifest\n"
    "print(type(_manifest.yaml).__name__, type(schema.yaml).__name__)\n"
    "for e in asdf.get_config().extensions:\n"
    "    print(e.extension_uri, sorted(t.tag_uri for t in e.tags),\n"
    "          sorted(sorted(c.tags) for c in e.converters))\n"
    "for uri in ('http://stsci.edu/schemas/jwst_datamodel/image.schema',\n"
    "            'http://stsci.edu/schemas/jwst_datamodel/cube.schema'):\n"
    "    print(repr(schema.load_schema(uri, resolve_references=True)))\n"
)


def _probe(mode, env):
    return subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True,
                          text=True, check=True, env=env).stdout.splitlines()


def test_a_fresh_process_loads_the_same_extensions_and_schemas_either_way(tmp_path):
    """Extensions (URIs, tags, converters) and two datamodel schemas, resolved: the same
    with the switch off, on with an empty cache, and on with the cache it wrote."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    off = _probe("off", env)
    cold = _probe("on", env)
    written = list(tmp_path.glob("snakewebb/asdf-yaml-*.pickle"))
    warm = _probe("on", env)
    assert off[0] == "module module"
    if getattr(yaml, "__with_libyaml__", False):
        assert cold[0] == "_LibyamlSafeLoad _CachedSchemaYaml"
        assert len(written) == 1 and len(pickle.loads(written[0].read_bytes())) > 20
    assert len(off) > 20
    assert cold[1:] == off[1:]
    assert warm[1:] == off[1:]


def test_outside_the_checked_versions_nothing_is_touched(monkeypatch, asdf_modules):
    import asdf

    _manifest, schema = asdf_modules
    monkeypatch.setattr(_manifest, "yaml", yaml)
    monkeypatch.setattr(schema, "yaml", yaml)
    monkeypatch.setattr(asdf, "__version__", "6.0.0")
    assert compat.speed_up_asdf_yaml() is False
    assert _manifest.yaml is yaml and schema.yaml is yaml
    monkeypatch.setattr(asdf, "__version__", "5.4.0")
    assert compat.speed_up_asdf_yaml() is getattr(yaml, "__with_libyaml__", False)


def test_a_changed_module_is_left_alone(asdf_modules, monkeypatch):
    _manifest, schema = asdf_modules
    sentinel = object()
    monkeypatch.setattr(_manifest, "yaml", sentinel)
    assert compat.speed_up_asdf_yaml() is False
    assert _manifest.yaml is sentinel
