"""The chat in a real browser: Debian's chromium driven by playwright against a real `dayone serve`.

The server is the real command in a subprocess (real index of examples/shop, real MiniLM, the real Qwen 0.5B
GGUF through llama-cpp-python). Screenshots go to artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_SHOP, HOSTILE, ROOT

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (.ci/run installs it)")

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu",
                              "--disable-background-networking", "--disable-component-update"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  extra_http_headers={"X-Forwarded-User": "newhire"})
    page = context.new_page()
    page.outside = []  # requests that leave the machine: there must be none
    page.dialogs = []
    page.on("request", lambda r: page.outside.append(r.url) if not r.url.startswith(
        (server[0], "data:", "blob:", "about:")) else None)
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(server[0] + "/", wait_until="networkidle")
    yield page
    context.close()


def _ask(page, question: str, shot: str) -> list[str]:
    """Ask through the page; the assistant's text at each change until the sources appear."""
    turn = page.locator("#chat .message.user").count() + 1
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    seen: list[str] = []
    deadline = time.time() + 240
    while time.time() < deadline:
        bots = page.locator("#chat .message.bot")
        text = bots.last.inner_text().strip() if bots.count() else ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if page.locator(f"#sources [data-turn='{turn}'][data-answered='yes']").count():
            break
        time.sleep(0.05)
    page.wait_for_timeout(300)
    seen.append(page.locator("#chat .message.bot").last.inner_text().strip())
    page.screenshot(path=str(SHOTS / shot), full_page=True)
    return seen


def test_a_question_streams_an_answer_with_sources_that_name_the_right_file(page, server):
    url, home = server
    page.screenshot(path=str(SHOTS / "01-start.png"), full_page=True)
    page.get_by_role("tab", name="Index").click()
    status = page.locator("#index-status").inner_text()
    assert "shop" in status and "web" in status and "chunks" in status
    page.get_by_role("tab", name="Chat").click()

    seen = _ask(page, "Where are orders paid?", "02-answer.png")
    partial = [t for t in seen[:-1] if t not in ("…", "")]
    assert len(set(partial)) >= 2, f"the answer did not stream: {seen}"
    assert "OrderService.pay" in seen[-1]
    first = page.locator("#sources .dayone-source").first
    assert first.get_attribute("data-path") == "api/orders.py"
    assert first.get_attribute("data-cited") == "yes"
    head = first.locator(".dayone-source-head").inner_text()
    assert "shop:api/orders.py:" in head and "OrderService.pay" in head
    # highlighted, not plain: pygments colours keywords
    assert first.locator("pre span").count() > 10

    # People to ask: the authors git knows for the cited file (none in a checkout without history).
    authors = subprocess.run(["git", "log", "--since=12 months ago", "--format=%an", "--", "api/orders.py"],
                             cwd=EXAMPLE_SHOP, capture_output=True, text=True).stdout.split("\n")
    authors = [a for a in authors if a]
    if authors:
        page.wait_for_selector("#people li", timeout=60000)
        assert authors[0] in page.locator("#people").inner_text()

    # Feedback is stored on this machine with the question and its sources.
    page.locator("#chat button[aria-label='Like']").last.click()
    page.wait_for_timeout(1500)
    rows = [json.loads(line) for line in (home / "feedback.jsonl").read_text().splitlines() if line.strip()]
    assert rows and rows[-1]["vote"] == "up" and rows[-1]["question"] == "Where are orders paid?"
    assert any(s["path"] == "api/orders.py" and s["cited"] for s in rows[-1]["sources"])
    assert page.outside == [], f"the page reached outside the machine: {page.outside}"


def test_the_repository_filter_limits_the_sources(page):
    page.locator("#repo-filter input").click()
    page.get_by_role("option", name="web").click()
    page.keyboard.press("Escape")
    seen = _ask(page, "Where are orders paid?", "03-filtered.png")
    assert "nothing in the index" in seen[-1]  # the shop's code is outside the filter
    assert page.locator("#sources .dayone-source").count() == 0
    _ask(page, "What does render_banner do?", "04-filtered.png")
    heads = page.locator("#sources .dayone-source-head").all_inner_texts()
    assert heads and all("web:" in h and "shop:" not in h for h in heads), heads


def test_repository_text_is_shown_not_run(page):
    seen = _ask(page, "What does render_banner do?", "05-hostile.png")
    assert seen[-1]
    sources = page.locator("#sources")
    # The script text is visible as text, and none of it ran.
    assert "<script>" in sources.inner_text() or "onerror" in sources.inner_text()
    page.locator("#sources .dayone-source").first.hover()
    page.locator("#chat .message.bot").last.hover()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert page.locator("#sources script, #chat script, #sources img, #chat img[src='x']").count() == 0
    # The injected instructions cannot add a source: the panel lists only indexed locations.
    paths = {p.get_attribute("data-path") for p in page.locator("#sources .dayone-source").all()}
    assert "banner.py" in paths
    assert all(p in HOSTILE or (EXAMPLE_SHOP / p).is_file() for p in paths), paths
    heads = " ".join(page.locator("#sources .dayone-source-head").all_inner_texts())
    assert "passwd" not in heads
    assert page.locator("#chat a[href*='passwd'], #sources a[href*='passwd']").count() == 0


def test_the_tour_tab_shows_where_to_start(page):
    page.get_by_role("tab", name="Tour").click()
    page.locator("#tour-button").click()
    page.wait_for_selector("#tour .dayone-tour[data-repo]", timeout=120000)
    tour = page.locator("#tour").inner_text()
    page.screenshot(path=str(SHOTS / "06-tour.png"), full_page=True)
    assert "Tour of" in tour and "Start reading here" in tour
    assert "OrderService" in tour and "shop:api/orders.py:" in tour


def test_the_search_tab_shows_tests_apart_from_the_code(page):
    page.get_by_role("tab", name="Search").click()
    page.locator("#search-query textarea, #search-query input").first.fill("which test covers reserving stock?")
    page.locator("#search-button").click()
    page.wait_for_selector("#search-results .dayone-group", timeout=120000)
    page.screenshot(path=str(SHOTS / "07-search-groups.png"), full_page=True)
    groups = page.locator("#search-results .dayone-group")
    names = [groups.nth(i).get_attribute("data-group") for i in range(groups.count())]
    assert names == ["usage", "code"], names  # a question about tests: the tests first, the code after them
    usage = groups.nth(0).locator(".dayone-source")
    paths = [usage.nth(i).get_attribute("data-path") for i in range(usage.count())]
    assert paths and all(p.startswith("tests/") or p.endswith(".md") for p in paths), paths
    assert "Tests, docs and examples" in groups.nth(0).inner_text() and "Code" in groups.nth(1).inner_text()


def test_the_facts_card_shows_before_the_first_model_token_and_first_day_questions_fit_the_index(page):
    # First-day questions come from the tours of the user's repositories, not from fixed text.
    page.wait_for_selector("#first-day button, #first-day td", timeout=60000)
    questions = page.locator("#first-day").inner_text()
    assert "OrderService" in questions or "/orders" in questions or "shop" in questions, questions
    assert "failed payments" not in questions and "sends emails" not in questions
    page.locator("#first-day button, #first-day td").first.click()
    # The click fills the box through the server. Wait for it: typing before it lands loses the typed text (CI's
    # busy machine once sent the first-day question instead of the one typed below).
    page.wait_for_function("document.querySelector('#question textarea').value.trim() !== ''", timeout=60000)
    picked = page.locator("#question textarea").input_value().strip()
    assert picked and picked in questions, (picked, questions)

    turn = page.locator("#chat .message.user").count() + 1
    page.locator("#question textarea").fill("How does OrderService.pay charge the card?")
    page.locator("#ask").click()
    card_at = token_at = None
    started = time.time()
    # The earlier turn's card is still on screen when Ask is clicked: only this question's card counts. A busy CI
    # machine can take minutes to the first token of a 0.5B model, hence the generous limit.
    while time.time() - started < 480 and not page.locator(
            f"#sources [data-turn='{turn}'][data-answered='yes']").count():
        if card_at is None and "OrderService.pay" in (page.locator("#facts").inner_text() or ""):
            card_at = time.time() - started
        bots = page.locator("#chat .message.bot")
        if token_at is None and bots.count() >= turn and bots.last.inner_text().strip() not in ("", "…"):
            token_at = time.time() - started
        time.sleep(0.05)
    page.screenshot(path=str(SHOTS / "05-facts-card.png"), full_page=True)
    assert "OrderService.pay charge" in page.locator("#chat .message.user").last.inner_text()  # the typed question
    assert card_at is not None and token_at is not None and card_at < token_at, (card_at, token_at)
    card = page.locator("#facts").inner_text()
    assert "api.orders.OrderService.pay" in card and "shop:api/orders.py:" in card
    assert "api.payments.PaymentGateway.charge" in card  # what it calls, from the symbol table
    print(f"\nfacts card on screen {card_at:.2f}s after Ask, first model token {token_at:.2f}s")
