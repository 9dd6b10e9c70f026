"""The seeds' stories clicked through in headless Chromium, one page per agent, against two
``zomehost run`` processes started by ``examples/serve.py`` (what `just ghostwriter-ui`
and `just messenger-ui` run). Screenshots are kept under tests/ui/artifacts/."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from conftest import REPO

from .conftest import wait_for

pytestmark = pytest.mark.slow

DRAFT_TITLE = "Masters of disguise: how octopi vanish"
DRAFT_BODY = "An octopus can match the colour and texture of a rock in 200 milliseconds."
MEMO = "write octopus camouflage articles for Alice"


@contextmanager
def serve(example: str, workdir: Path) -> Iterator[list[str]]:
    """``python examples/serve.py <example> --dir workdir``: yields Alice's and Bob's URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "serve.py"), example, "--dir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    urls: list[str] = []
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            found = re.match(r"(\w+)'s page: (http://127\.0\.0\.1:\d+/)", line)
            if found:
                urls.append(found.group(2))
            if len(urls) == 2:
                break
        assert len(urls) == 2, "".join(lines)
        yield urls
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def open_page(browser: Callable[[], Any], url: str) -> Any:
    driver = browser()
    driver.get(url)
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "body[data-ready=yes]"), f"{url} ready")
    return driver


def agent_of(driver: Any) -> str:
    text: str = driver.find_element(By.ID, "agent").text
    assert re.fullmatch(r"uhCAk[A-Za-z0-9_-]{48}", text), text
    return text


def texts(driver: Any, css: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def type_into(driver: Any, element_id: str, text: str) -> None:
    el = driver.find_element(By.ID, element_id)
    el.clear()
    el.send_keys(text)


def click(driver: Any, css: str) -> None:
    driver.find_element(By.CSS_SELECTOR, css).click()


def no_errors(driver: Any) -> None:
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def try_socket(driver: Any, url: str) -> str:
    """From inside the page: open a WebSocket to ``url``; "open" or "refused"."""
    result: str = driver.execute_async_script(
        """
        const [url, done] = arguments;
        let ws;
        try { ws = new WebSocket(url); } catch (e) { done("refused"); return; }
        ws.onopen = () => { ws.close(); done("open"); };
        ws.onerror = () => done("refused");
        """,
        url,
    )
    return result


def test_ghostwriter_story_in_two_browser_pages(
    built_uis: None, browser: Callable[[], Any], artifacts: Path, tmp_path: Path
) -> None:
    with serve("ghostwriter", tmp_path / "sandbox") as (alice_url, bob_url):
        alice, bob = open_page(browser, alice_url), open_page(browser, bob_url)
        alice_key, bob_key = agent_of(alice), agent_of(bob)
        assert alice_key != bob_key
        alice.save_screenshot(str(artifacts / "01-alice.png"))

        # Bob has been working on a draft.
        type_into(bob, "draft-title", DRAFT_TITLE)
        type_into(bob, "draft-body", DRAFT_BODY)
        click(bob, "#save-draft")
        wait_for(lambda: DRAFT_TITLE in texts(bob, "#drafts .draft .title"), "Bob's draft")

        # Alice lets Bob publish as her: an assigned grant; Bob's page gets the signal live.
        type_into(alice, "grant-to", bob_key)
        type_into(alice, "grant-memo", MEMO)
        click(alice, "#grant")
        grant = wait_for(
            lambda: alice.find_element(By.CSS_SELECTOR, "#grants .grant[data-revoked=no]"),
            "Alice's live grant",
        )
        assert MEMO in grant.text and "Revoke" in grant.text
        wait_for(
            lambda: bob.find_elements(By.CSS_SELECTOR, "#signals .permission_received"),
            "Bob's permission_received signal",
        )
        alice.save_screenshot(str(artifacts / "02-alice-granted.png"))

        # Bob clicks "Publish as …": the dialog lists who lets him write for them.
        click(bob, "#drafts .draft .publish-as")
        claim = wait_for(
            lambda: bob.find_element(By.CSS_SELECTOR, f"#claims [data-grantor='{alice_key}']"),
            "the dialog offering Alice",
        )
        assert claim.text.startswith("Publish as") and MEMO in texts(bob, "#claims .claim")[0]
        bob.save_screenshot(str(artifacts / "03-bob-publish-dialog.png"))
        claim.click()
        wait_for(
            lambda: bob.find_element(By.ID, "publish-draft").get_attribute("data-outcome") == "Ok",
            "publish_as Ok",
        )

        # Alice's page shows the post_published signal live, and the post on her chain.
        signal_el = wait_for(
            lambda: alice.find_element(By.CSS_SELECTOR, "#signals .post_published"),
            "Alice's post_published signal",
        )
        assert DRAFT_TITLE in signal_el.text
        assert (
            signal_el.find_element(By.CSS_SELECTOR, "[data-key]").get_attribute("data-key")
            == bob_key
        )  # published by Bob
        wait_for(lambda: texts(alice, "#posts .post .title") == [DRAFT_TITLE], "Alice's post")
        alice.save_screenshot(str(artifacts / "04-alice-post-published.png"))

        # Alice revokes; Bob's next attempt is Unauthorized; Alice still has one post.
        click(alice, "#grants .grant .revoke")
        wait_for(
            lambda: alice.find_elements(By.CSS_SELECTOR, "#grants .grant[data-revoked=yes]"),
            "the grant revoked",
        )
        claim = bob.find_element(By.CSS_SELECTOR, f"#claims [data-grantor='{alice_key}']")
        claim.click()
        wait_for(
            lambda: (
                bob.find_element(By.ID, "publish-draft").get_attribute("data-outcome")
                == "Unauthorized"
            ),
            "publish_as Unauthorized after revoke",
        )
        bob.save_screenshot(str(artifacts / "05-bob-unauthorized.png"))
        alice.refresh()
        wait_for(lambda: alice.find_element(By.CSS_SELECTOR, "body[data-ready=yes]"), "reload")
        assert texts(alice, "#posts .post .title") == [DRAFT_TITLE]
        alice.save_screenshot(str(artifacts / "06-alice-after-revoke.png"))

        # The page reaches its own app and nothing else: not Bob's, not the admin interface.
        own = alice.execute_script("return window.__HC_LAUNCHER_ENV__.APP_INTERFACE_PORT")
        bobs = bob.execute_script("return window.__HC_LAUNCHER_ENV__.APP_INTERFACE_PORT")
        admin = json.loads((tmp_path / "sandbox" / "alice" / "run.json").read_text())["admin_port"]
        assert try_socket(alice, f"ws://localhost:{own}") == "open"
        assert try_socket(alice, f"ws://localhost:{bobs}") == "refused"
        assert try_socket(alice, f"ws://127.0.0.1:{admin}") == "refused"
        for d in (alice, bob):
            d.get_log("browser")  # the refused sockets above log errors on purpose

        # Alice's conductor dashboard: her app and cell, the chain verified, the live calls.
        run = json.loads((tmp_path / "sandbox" / "alice" / "run.json").read_text())
        dash = open_page(browser, run["dashboard"])
        assert "ghostwriter" in dash.find_element(By.ID, "apps").text
        assert alice_key in dash.find_element(By.ID, "apps").text
        click(dash, "#apps .cell[data-role=blog]")
        wait_for(lambda: texts(dash, "#records .record"), "Alice's chain in the dashboard")
        assert any("post" in t and DRAFT_TITLE in t for t in texts(dash, "#records .record"))
        click(dash, "#verify")
        wait_for(lambda: "intact" in dash.find_element(By.ID, "verify-result").text, "verify")
        assert any("revoked" in t for t in texts(dash, "#grants .grant"))
        alice.refresh()  # Alice's page makes calls: they show up live
        wait_for(
            lambda: any("blog.list_posts → Ok" in t for t in texts(dash, "#feed .call")),
            "Alice's calls in the live feed",
        )
        dash.save_screenshot(str(artifacts / "07-alice-dashboard.png"))
        no_errors(dash)


def test_messenger_exchange_in_two_browser_pages(
    built_uis: None, browser: Callable[[], Any], artifacts: Path, tmp_path: Path
) -> None:
    with serve("messenger", tmp_path / "sandbox") as (alice_url, bob_url):
        alice, bob = open_page(browser, alice_url), open_page(browser, bob_url)
        alice_key, bob_key = agent_of(alice), agent_of(bob)

        type_into(alice, "peer", bob_key)
        click(alice, "#ping")
        wait_for(lambda: any("pong" in t for t in texts(alice, ".bubble.ping")), "Alice's pong")

        type_into(alice, "text", "Hi Bob! Octopi have three hearts.")
        click(alice, "#send")
        wait_for(lambda: "delivered" in " ".join(texts(alice, ".bubble.mine")), "delivered")
        wait_for(
            lambda: "Hi Bob! Octopi have three hearts." in " ".join(texts(bob, ".bubble.theirs")),
            "Bob's incoming message, live",
        )
        assert bob.find_element(By.ID, "peer").get_attribute("value") == alice_key

        type_into(bob, "text", "And blue blood!")
        click(bob, "#send")
        wait_for(
            lambda: "And blue blood!" in " ".join(texts(alice, ".bubble.theirs")),
            "Alice's incoming reply, live",
        )
        type_into(alice, "text", "wake up")
        click(alice, "#nudge")
        wait_for(lambda: any("wake up" in t for t in texts(bob, ".bubble.nudge")), "Bob's nudge")
        alice.save_screenshot(str(artifacts / "01-alice-conversation.png"))
        bob.save_screenshot(str(artifacts / "02-bob-conversation.png"))

        # A private room (a clone cell): Alice makes it, Bob's page gets the invitation, joins.
        type_into(alice, "room-name", "reef")
        click(alice, "#make-room")
        wait_for(lambda: texts(alice, "#rooms li.room"), "Alice's room")
        wait_for(lambda: texts(bob, "#rooms li.invitation"), "Bob's invitation")
        click(bob, "#rooms li.invitation button.join")
        wait_for(lambda: texts(bob, "#rooms li.room"), "Bob joined the room")
        type_into(alice, "text", "Room only: the octopus is in the reef.")
        click(alice, "#rooms li.room button.send-room")
        wait_for(
            lambda: "delivered to 1 of 1" in " ".join(texts(alice, ".bubble.mine")),
            "delivered in the room",
        )
        wait_for(
            lambda: "[reef] Room only" in " ".join(texts(bob, ".bubble.theirs.room")),
            "Bob's room message, live",
        )
        bob.save_screenshot(str(artifacts / "03-bob-room.png"))
        no_errors(alice)
        no_errors(bob)
