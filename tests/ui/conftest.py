"""Fixtures for the web UI tests: real ``zomehost run`` processes serving ``.webhapp`` UIs,
and headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium).

Screenshots go to ``tests/ui/artifacts/<test>/`` (ignored by git; the path is printed).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.conftest import ConductorProc, api_home
from conftest import REPO, AppBuilder
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.conductor.packing import pack_app_dir, pack_web_app_dir

from conftest import PASSPHRASE  # isort: skip

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PROBE_UI = {
    "index.html": b"<!doctype html><html><head><title>probe</title></head><body>p</body></html>",
    "app.js": b"console.log('probe');",
    "sub/dir/page.html": b"<p>nested</p>",
}


@pytest.fixture(scope="session")
def built_uis() -> None:
    """The launcher shim and the examples' UIs, built from npm packages (esbuild)."""
    r = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-ui")], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, f"scripts/build-ui failed (npm install?):\n{r.stdout}{r.stderr}"


def write_web_app(src: Path, happ: Path, files: dict[str, bytes], name: str) -> Path:
    """A web-happ.yaml folder around ``happ`` with a UI of ``files``; packed to .webhapp."""
    ui = src / "ui"
    for rel, content in files.items():
        (ui / rel).parent.mkdir(parents=True, exist_ok=True)
        (ui / rel).write_bytes(content)
    (src / "web-happ.yaml").write_text(
        f'manifest_version: "1"\nname: {name}\nui: {{bundled: ./ui}}\n'
        f"happ_manifest: {{bundled: {happ}}}\n"
    )
    return pack_web_app_dir(src, src / f"{name}.webhapp")


@pytest.fixture(scope="session")
def probe_webhapp(wasm_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe zome (role ``main``) with a three-file UI."""
    root = tmp_path_factory.mktemp("probe-webhapp")
    app_dir = AppBuilder(wasm_paths, root / "src").write_dir(
        {"main": [("probe", "probe")]}, name="probe"
    )
    happ = pack_app_dir(app_dir, root / "probe.happ")
    return write_web_app(root / "web", happ, PROBE_UI, "probe")


@dataclass
class Served:
    """A running conductor serving two apps' UIs (same bundle, two agents)."""

    conductor: ConductorProc
    urls: dict[str, str]
    agents: dict[str, str]

    @property
    def dashboard_port(self) -> int:
        return int(self.conductor.endpoints["dashboard"].rsplit(":", 1)[1].strip("/"))

    def port(self, app_id: str) -> int:
        return int(self.urls[app_id].rsplit(":", 1)[1].strip("/"))


def serve_apps(
    home_dir: Path,
    cache: Path,
    bundle: Path,
    app_ids: list[str],
    config: dict[str, Any] | None = None,
) -> Served:
    home = api_home(home_dir, cache)
    if config:
        path = home / "conductor-config.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **config}))
    agents = {}
    conductor = Conductor.open(Home(home), PASSPHRASE)
    try:
        for app_id in app_ids:
            agents[app_id] = str(conductor.install_app(bundle.read_bytes(), app_id).agent)
    finally:
        conductor.close()
    proc = ConductorProc(home, home_dir.parent / f"{home_dir.name}.log").start()
    wait_for(lambda: proc.wait_ready() or "ui" in proc.endpoints, "the UIs to be served")
    urls = proc.endpoints["ui"]
    assert set(urls) == set(app_ids), proc.output()
    return Served(proc, urls, agents)


@pytest.fixture(scope="module")
def served(
    probe_webhapp: Path, module_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    s = serve_apps(tmp_path_factory.mktemp("ui-home") / "home", module_cache, probe_webhapp,
                   ["alpha", "beta"])  # fmt: skip
    yield s
    s.conductor.stop()


# -- pages ------------------------------------------------------------------------------
_ENV = re.compile(r"window\.__HC_LAUNCHER_ENV__=(\{.*?\});")
_ZOMEHOST = re.compile(r"window\.__ZOMEHOST__=(\{.*?\});")


@dataclass
class Page:
    """What a served index.html hands its page."""

    html: str
    app_port: int
    app_id: str
    token: bytes
    session: str
    agent: str
    csp: str


def raw_http(port: int, data: bytes, *, timeout: float = 15.0) -> bytes:
    """Send bytes to 127.0.0.1:port as they are; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


def http(
    port: int,
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    head = {"Host": f"127.0.0.1:{port}" if host is None else host, "Connection": "close"}
    head.update(headers or {})
    if body or method == "POST":
        head["Content-Length"] = str(len(body))
    text = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
    answer = raw_http(port, text.encode() + b"\r\n" + body)
    return parse_response(answer)


def parse_response(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def load_page(port: int) -> Page:
    status, headers, body = http(port, "GET", "/")
    assert status == 200, body
    html = body.decode()
    env = json.loads(_ENV.search(html).group(1))  # type: ignore[union-attr]
    zh = json.loads(_ZOMEHOST.search(html).group(1))  # type: ignore[union-attr]
    return Page(
        html,
        int(env["APP_INTERFACE_PORT"]),
        env["INSTALLED_APP_ID"],
        bytes(env["APP_INTERFACE_TOKEN"]),
        zh["session"],
        zh["agent"],
        headers["content-security-policy"],
    )


# -- browser ----------------------------------------------------------------------------
@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    out = ARTIFACTS / request.node.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print(f"\nscreenshots of {request.node.name}: {out}")
    return out


@pytest.fixture
def browser() -> Iterator[Callable[[], Any]]:
    """Start headless Chromium windows (one per call); all are closed after the test."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail("headless Chromium is missing: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def start() -> Any:
        options = Options()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1300,950"):  # fmt: skip
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_script_timeout(30)
        drivers.append(driver)
        return driver

    yield start
    for d in drivers:
        d.quit()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy (a page updating live)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the element is not there yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f" ({last})" if last else ""))
