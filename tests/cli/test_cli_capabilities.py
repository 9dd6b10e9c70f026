"""Capabilities from the shell: `zomehost call --as`, `grant`, `grants`, `revoke`.

Agent B (app "bob") calls agent A's (app "alice") function: refused without a grant,
accepted with an assigned grant and its printed secret, refused again after `revoke`.

The commands run in process (typer's runner, the same code as the console script) to keep
the suite fast; tests/cli/test_cli_foundation.py covers the real subprocess.
"""

from __future__ import annotations

import json
from typing import Any

import pytest


def _ok(result: Any) -> str:
    assert result.returncode == 0, (
        f"rc={result.returncode}\nstdout={result.stdout}\nstderr={result.stderr}"
    )
    assert "Traceback" not in result.stderr
    return str(result.stdout)


def _refused(result: Any) -> str:
    assert result.returncode == 1, (
        f"rc={result.returncode}\nstdout={result.stdout}\nstderr={result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def two_agents(
    tmp_path_factory: pytest.TempPathFactory,
    home_factory: Any,
    probe_bundle: bytes,
    zomehost_inproc: Any,
) -> dict[str, Any]:
    home = home_factory("cli-caps")
    bundle = tmp_path_factory.mktemp("cli-caps-bundle") / "probe.happ"
    bundle.write_bytes(probe_bundle)
    alice = _ok(zomehost_inproc(home, "app", "install", str(bundle), "--app-id", "alice")).strip()
    bob = _ok(zomehost_inproc(home, "app", "install", str(bundle), "--app-id", "bob")).strip()
    assert alice != bob
    return {"home": home, "alice": alice, "bob": bob, "cli": zomehost_inproc}


def test_grant_call_revoke_from_the_shell(two_agents: dict[str, Any]) -> None:
    cli, home, bob = two_agents["cli"], two_agents["home"], two_agents["bob"]
    call = ["call", "alice", "main", "a", "echo", '"hi from bob"']

    # 1. No grant: bob (by app id) may not call alice's function.
    line = _refused(cli(home, *call, "--as", "bob"))
    assert "may not call a.echo" in line
    assert bob in line

    # 2. An assigned grant for bob; the secret is printed on stdout.
    secret = _ok(
        cli(
            home,
            "grant",
            "alice",
            "main",
            "--functions",
            "a:echo",
            "--assignee",
            bob,
            "--tag",
            "bob",
        )
    ).strip()
    assert len(secret) == 86  # 64 bytes, base64url without padding
    out = _ok(cli(home, *call, "--as", bob, "--cap-secret", secret))
    assert json.loads(out) == "hi from bob"

    # The grant covers only a.echo, and only with the secret.
    assert "may not call a.now" in _refused(
        cli(home, "call", "alice", "main", "a", "now", "--as", "bob", "--cap-secret", secret)
    )

    # 3. `grants` lists it with its hash; `revoke` revokes it; the call fails again.
    listing = _ok(cli(home, "grants", "alice", "main")).strip().splitlines()
    assert len(listing) == 1
    fields = listing[0].split("\t")
    grant_hash = fields[0]
    assert grant_hash.startswith("uhCkk")
    assert fields[1] == "live"
    assert fields[2] == "Assigned"
    assert f"assignees={bob}" in listing[0]
    assert "tag=bob" in listing[0]

    _ok(cli(home, "revoke", "alice", "main", grant_hash))
    assert "may not call a.echo" in _refused(cli(home, *call, "--as", bob, "--cap-secret", secret))
    revoked = _ok(cli(home, "grants", "alice", "main", "--include-revoked")).strip().splitlines()
    assert [ln.split("\t")[:2] for ln in revoked] == [[grant_hash, "revoked"]]

    # Revoking twice is a clear error.
    assert "already revoked" in _refused(cli(home, "revoke", "alice", "main", grant_hash))


def test_an_unrestricted_grant_from_the_shell(two_agents: dict[str, Any]) -> None:
    cli, home = two_agents["cli"], two_agents["home"]
    call = ["call", "alice", "main", "b", "now", "--as", "bob"]
    _refused(cli(home, *call))
    grant_hash = _ok(cli(home, "grant", "alice", "main", "--functions", "b:now")).strip()
    assert grant_hash.startswith("uhCkk")  # no secret to print: the grant's hash instead
    assert isinstance(json.loads(_ok(cli(home, *call))), int)
    _ok(cli(home, "revoke", "alice", "main", grant_hash))
    _refused(cli(home, *call))


def test_bad_capability_arguments_are_one_line_errors(two_agents: dict[str, Any]) -> None:
    cli, home = two_agents["cli"], two_agents["home"]
    assert "--cap-secret" in _refused(
        cli(home, "call", "alice", "main", "a", "echo", '"x"', "--as", "bob", "--cap-secret", "abc")
    )
    assert "--functions" in _refused(cli(home, "grant", "alice", "main", "--functions", "nocolon"))


def test_links_between_apps_are_declared_at_install_and_listed(
    two_agents: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, probe_bundle: bytes
) -> None:
    """`app install --link` is the admin's declaration that one app's zomes may act as
    another app's author; `app list` shows it; a link to no app is one plain error line."""
    cli, home, alice = two_agents["cli"], two_agents["home"], two_agents["alice"]
    bundle = tmp_path_factory.mktemp("cli-links") / "probe.happ"
    bundle.write_bytes(probe_bundle)
    install = ["app", "install", str(bundle), "--agent", alice, "--network-seed"]
    line = _refused(cli(home, *install, "n1", "--app-id", "tools", "--link", "nosuchapp"))
    assert "nosuchapp" in line
    _ok(cli(home, *install, "n2", "--app-id", "tools", "--link", "alice"))
    listed = json.loads(_ok(cli(home, "app", "list", "--json")))
    links = {a["app_id"]: a["linked_apps"] for a in listed}
    assert links["tools"] == ["alice"]
    assert links["alice"] == []
    assert "linked: alice" in _ok(cli(home, "app", "list"))
