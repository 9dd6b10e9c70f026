"""The CLI as a zome author meets it: a panic's own words in the error, one text form for
capability secrets (from a call's output straight into --cap-secret), readable output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zomehost.cli.render import bytes_from_text, bytes_text

Run = Callable[..., Any]


def ok(result: Any) -> str:
    assert result.returncode == 0, f"stdout={result.stdout}\nstderr={result.stderr}"
    return str(result.stdout)


def test_a_panic_is_one_line_with_its_message_and_the_zome_function(
    probe_home: Path, zomehost_inproc: Run
) -> None:
    r = zomehost_inproc(probe_home, "call", "p", "main", "a", "create_then_panic", '"x"')
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "a.create_then_panic: panicked at 'deliberate panic after create'" in lines[0]


def test_a_secret_from_a_calls_output_is_accepted_by_cap_secret(
    probe_home: Path, zomehost_inproc: Run
) -> None:
    printed = json.loads(ok(zomehost_inproc(probe_home, "call", "p", "main", "a", "new_secret")))
    assert printed.startswith("base64:")
    grant = {
        "tag": "friend",
        "access": {"Transferable": {"secret": printed}},
        "functions": {"Listed": [["a", "echo"]]},
    }
    ok(zomehost_inproc(probe_home, "call", "p", "main", "a", "make_grant", json.dumps(grant)))
    friend = ok(zomehost_inproc(probe_home, "agent", "new")).strip()

    def echo_as_friend(secret: str) -> Any:
        return zomehost_inproc(
            probe_home, "call", "p", "main", "a", "echo", '"hi"', "--as", friend,
            "--cap-secret", secret,
        )  # fmt: skip

    url = bytes_text(bytes_from_text(printed.removeprefix("base64:")))  # as `grant` prints it
    for form in (printed, printed.removeprefix("base64:"), url, url + "=="):
        assert json.loads(ok(echo_as_friend(form))) == "hi", form
    wrong = echo_as_friend("base64:" + "A" * 86)
    assert wrong.returncode == 1 and "Unauthorized" in wrong.stderr
    short = echo_as_friend("abc")
    assert short.returncode == 1 and "64-byte secret" in short.stderr


def test_grant_prints_its_secret_in_the_same_form_and_functions_readably(
    probe_home: Path, zomehost_inproc: Run
) -> None:
    r = zomehost_inproc(
        probe_home, "grant", "p", "main", "--functions", "a:echo,a:whoami", "--transferable"
    )
    secret = ok(r).strip()
    assert len(secret) == 86 and "=" not in secret
    assert "access to a:echo, a:whoami (grant uhCkk" in r.stderr, r.stderr
    assert "{" not in r.stderr and "[" not in r.stderr
    friend = ok(zomehost_inproc(probe_home, "agent", "new")).strip()
    out = zomehost_inproc(
        probe_home, "call", "p", "main", "a", "echo", '"yo"', "--as", friend,
        "--cap-secret", "base64:" + secret,
    )  # fmt: skip
    assert json.loads(ok(out)) == "yo"


def test_version_has_one_source(zomehost_inproc: Run, tmp_path: Path) -> None:
    import tomllib

    import zomehost
    from conftest import REPO

    assert ok(zomehost_inproc(tmp_path, "--version")).strip() == f"zomehost {zomehost.__version__}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "zomehost.__version__"}
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")
