"""snakewebb.compat: adapters to dependency internals change speed, never a result."""

import subprocess
import sys

import pytest
import yaml

from snakewebb import compat


def test_manifests_parse_the_same_with_the_c_loader():
    """Every asdf manifest installed here: the C loader's document equals PyYAML's own."""
    import asdf

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML was built without libyaml: nothing is switched")
    manager = asdf.get_config().resource_manager
    manifests = [uri for uri in manager if "/manifests/" in uri]
    assert len(manifests) >= 20, manifests
    for uri in manifests:
        text = manager[uri]
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.safe_load(text), uri


def test_a_fresh_process_loads_the_same_extensions_either_way():
    """The extension list (URIs, tags, converter types) with and without the switch."""
    probe = (
        "import sys\n"
        "if sys.argv[1] == 'on':\n"
        "    import snakewebb.steps  # switches on import\n"
        "import asdf\n"
        "from asdf.extension import _manifest\n"
        "print(type(_manifest.yaml).__name__)\n"
        "for e in asdf.get_config().extensions:\n"
        "    print(e.extension_uri, sorted(t.tag_uri for t in e.tags),\n"
        "          sorted(sorted(c.tags) for c in e.converters))\n"
    )
    on = subprocess.run([sys.executable, "-c", probe, "on"], capture_output=True, text=True,
                        check=True).stdout.splitlines()
    off = subprocess.run([sys.executable, "-c", probe, "off"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    if getattr(yaml, "__with_libyaml__", False):
        assert on[0] == "_LibyamlSafeLoad"
    assert off[0] == "module"
    assert len(on) > 20
    assert on[1:] == off[1:]


def test_outside_the_checked_versions_nothing_is_touched(monkeypatch):
    import asdf
    from asdf.extension import _manifest

    monkeypatch.setattr(_manifest, "yaml", yaml)
    monkeypatch.setattr(asdf, "__version__", "6.0.0")
    assert compat.use_libyaml_for_asdf_manifests() is False
    assert _manifest.yaml is yaml
    monkeypatch.setattr(asdf, "__version__", "5.4.0")
    assert compat.use_libyaml_for_asdf_manifests() is getattr(yaml, "__with_libyaml__", False)


def test_a_changed_module_is_left_alone(monkeypatch):
    from asdf.extension import _manifest

    sentinel = object()
    monkeypatch.setattr(_manifest, "yaml", sentinel)
    assert compat.use_libyaml_for_asdf_manifests() is False
    assert _manifest.yaml is sentinel
