"""docs/config.md against the code: it cannot drift.

The keys come from the config dataclasses themselves (``ConductorConfig`` and the sections
its fields' metadata name, down to ``network.relay_server``), never from a list kept here.
Every key must be documented with the code's default and bounds, every documented key must
exist, the parsers must enforce the documented bounds, an unknown key in any section is an
``UnknownConfigKey`` naming it (with a suggestion), and what ``zomehost init`` writes parses
back. The environment variables the package reads are documented too.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from zomehost.conductor.home import ConductorConfig
from zomehost.core.config_keys import Bounds, bounds_of, is_inline, section_of
from zomehost.errors import BundleError, ConductorError, UnknownConfigKey
from zomehost.network.config import NetworkConfig

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "config.md"


@dataclasses.dataclass(frozen=True)
class Key:
    default: Any
    bounds: Bounds | None


def code_keys() -> dict[str, Key]:
    """Every key of conductor-config.yaml, dotted, from the dataclasses and their metadata."""
    keys: dict[str, Key] = {}

    def walk(cls: type, prefix: str) -> None:
        example = cls()
        for f in dataclasses.fields(cls):
            section = section_of(f)
            default = getattr(example, f.name)
            if section is None:
                keys[prefix + f.name] = Key(default, bounds_of(f))
                continue
            if default is None:  # an optional section: the key itself is a setting
                keys[prefix + f.name] = Key(None, None)
            walk(section, prefix if is_inline(f) else f"{prefix}{f.name}.")
        for alias in getattr(cls, "ALIASES", {}):
            keys[prefix + alias] = Key(None, None)

    walk(ConductorConfig, "")
    return keys


ROW = re.compile(r"^\| `([a-z_.]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|$")


def doc_keys() -> dict[str, tuple[str, str]]:
    """Documented key -> (default cell, bounds cell)."""
    found: dict[str, tuple[str, str]] = {}
    for line in DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            assert m.group(1) not in found, f"{m.group(1)} is documented twice"
            found[m.group(1)] = (m.group(3).strip(), m.group(4).strip())
    return found


CODE = code_keys()
DOCUMENTED = doc_keys()


def _plain(value: Any) -> Any:
    """A default as YAML reads it back (frozensets are lists, tuples are lists)."""
    if isinstance(value, frozenset | set | tuple):
        return sorted(value)
    return value


def test_the_walk_reaches_every_section() -> None:
    prefixes = {k.rsplit(".", 1)[0] for k in CODE if "." in k}
    assert {"limits", "memory_budget", "admission", "dashboard", "network"} <= prefixes
    assert "network.relay_server" in prefixes
    assert "network.relay_server.max_clients" in CODE  # RelayLimits, inline
    assert "network.bootstrap_url" in CODE  # an alias, not a field
    assert len(CODE) > 45


def test_every_key_in_code_is_documented_and_nothing_else() -> None:
    missing = sorted(set(CODE) - set(DOCUMENTED))
    extra = sorted(set(DOCUMENTED) - set(CODE))
    assert not missing, f"keys missing from docs/config.md: {missing}"
    assert not extra, f"docs/config.md documents keys the code does not have: {extra}"


@pytest.mark.parametrize("key", sorted(CODE))
def test_documented_default_and_bounds_match_the_code(key: str) -> None:
    default_cell, bounds_cell = DOCUMENTED[key]
    m = re.fullmatch(r"`([^`]*)`", default_cell)
    assert m, f"{key}: the default must be one `yaml value`, not {default_cell}"
    text = m.group(1)
    documented = "" if text == "" else yaml.safe_load(text)
    expected = _plain(CODE[key].default)
    assert documented == expected, f"{key}: docs say {text}, the code has {expected}"
    assert type(documented) is type(expected) or documented == "", key
    bounds = CODE[key].bounds
    assert bounds_cell == (bounds.text() if bounds else ""), f"{key}: bounds {bounds_cell}"


def _doc(key: str, value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    parts = key.split(".")
    at = doc
    for part in parts[:-1]:
        at = at.setdefault(part, {})
    at[parts[-1]] = value
    return doc


def _load(tmp_path: Path, doc: dict[str, Any]) -> ConductorConfig:
    path = tmp_path / "conductor-config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return ConductorConfig.load(path)


LIST_ITEMS = {  # a valid element for each bounded list (the items differ)
    "network.bootstrap_urls": lambda i: f"http://127.0.0.1:{8000 + i}",
    "network.relays": lambda i: f"127.0.0.1:{9000 + i}",
}


@pytest.mark.parametrize("key", sorted(k for k in CODE if CODE[k].bounds is not None))
def test_the_parser_enforces_the_documented_bounds(tmp_path: Path, key: str) -> None:
    bounds = CODE[key].bounds
    assert bounds is not None
    if bounds.items:
        assert bounds.high is not None
        item = LIST_ITEMS[key]
        _load(tmp_path, _doc(key, [item(i) for i in range(int(bounds.high))]))
        with pytest.raises(ConductorError, match=re.escape(key)):
            _load(tmp_path, _doc(key, [item(i) for i in range(int(bounds.high) + 1)]))
        return
    step = 1 if isinstance(bounds.low, int) else 0.01
    assert bounds.low is not None
    _load(tmp_path, _doc(key, bounds.low))
    with pytest.raises(ConductorError, match=re.escape(key)):
        _load(tmp_path, _doc(key, bounds.low - step))
    with pytest.raises(ConductorError, match=re.escape(key)):
        _load(tmp_path, _doc(key, True))  # a boolean is not a number
    if bounds.high is not None:
        _load(tmp_path, _doc(key, bounds.high))
        with pytest.raises(ConductorError, match=re.escape(key)):
            _load(tmp_path, _doc(key, bounds.high + step))


@pytest.mark.parametrize("key", sorted(CODE))
def test_a_misspelt_key_is_named_with_a_suggestion(tmp_path: Path, key: str) -> None:
    """In every section: the typo is an UnknownConfigKey naming it, the file and the key
    it most likely meant; nothing is silently ignored."""
    *section, name = key.split(".")
    typo = ".".join([*section, name[:-1] + "x" + name[-1]])
    with pytest.raises(UnknownConfigKey) as caught:
        _load(tmp_path, _doc(typo, 1))
    assert caught.value.key == typo
    assert caught.value.suggestion == key
    assert caught.value.kind == "UnknownConfigKey"
    assert str(tmp_path / "conductor-config.yaml") in caught.value.message
    assert f"did you mean {key}?" in caught.value.message


def test_an_unknown_key_with_nothing_close_has_no_suggestion(tmp_path: Path) -> None:
    with pytest.raises(UnknownConfigKey) as caught:
        _load(tmp_path, {"zzzz": 1})
    assert caught.value.key == "zzzz"
    assert caught.value.suggestion is None
    assert "did you mean" not in caught.value.message


def test_a_dna_manifest_limit_typo_is_refused_with_a_suggestion() -> None:
    from zomehost.core.bundle import DnaManifest

    doc = {"name": "d", "zomes": [{"name": "z", "path": "z.wasm"}], "limits": {"timout_ms": 1}}
    with pytest.raises(BundleError, match=r"did you mean limits\.timeout_ms\?"):
        DnaManifest.parse(doc)


def test_zomehost_init_writes_a_config_that_parses_back_and_points_here(
    tmp_path: Path, zomehost_inproc: Any
) -> None:
    home = tmp_path / "home"
    result = zomehost_inproc(home, "init")
    assert result.returncode == 0, result.stderr
    path = home / "conductor-config.yaml"
    text = path.read_text()
    assert "docs/config.md" in text.splitlines()[0]
    assert ConductorConfig.load(path) == ConductorConfig()
    written = yaml.safe_load(text)

    def dotted(doc: dict[str, Any], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for k, v in doc.items():
            if isinstance(v, dict) and f"{prefix}{k}" not in CODE:
                out |= dotted(v, f"{prefix}{k}.") or {f"{prefix}{k}.*"}
            else:
                out.add(prefix + k)
        return out

    sections = {k.split(".")[0] for k in CODE}
    for key in dotted(written):
        assert key in CODE or key.removesuffix(".*") in sections, key
    assert DOC.is_file()


ENV = re.compile(r"""["'](ZOMEHOST_[A-Z][A-Z_]*)["']""")
ENV_ROW = re.compile(r"^\| `(ZOMEHOST_[A-Z_]+)` \|", re.M)


def test_every_environment_variable_the_package_reads_is_documented() -> None:
    read = set()
    for source in (ROOT / "host" / "zomehost").rglob("*.py"):
        read |= set(ENV.findall(source.read_text()))
    documented = set(ENV_ROW.findall(DOC.read_text()))
    assert {"ZOMEHOST_HOME", "ZOMEHOST_PASSPHRASE", "ZOMEHOST_BOUNDARY"} <= read
    assert read == documented, (
        f"undocumented: {sorted(read - documented)}, gone: {sorted(documented - read)}"
    )


def test_network_aliases_are_keys_of_its_parser() -> None:
    assert NetworkConfig.from_doc({"bootstrap_url": "http://127.0.0.1:1"}).bootstrap_urls == [
        "http://127.0.0.1:1"
    ]


def test_every_config_example_in_the_docs_loads(tmp_path: Path) -> None:
    """A ```yaml block of the docs or README whose keys are config keys is a config that
    loads (the examples cannot keep a key that was renamed or removed)."""
    top = {k.split(".")[0] for k in CODE}
    checked = 0
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S):
            doc = yaml.safe_load(block)
            if not isinstance(doc, dict) or not set(doc) <= top or "name" in doc:
                continue  # a manifest, or not a config
            path = tmp_path / "conductor-config.yaml"
            path.write_text(block)
            ConductorConfig.load(path)
            checked += 1
    assert checked >= 5
