"""Take the README's screenshots of a running Tally.

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8123 USERNAME PASSWORD

Signs in through the login form with Debian's chromium (never `playwright install`) and writes
docs/screenshots/dashboard.png (/admin/) and docs/screenshots/records.png (/admin/corpus/record/)
at a 1400x900 viewport.
"""

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGES = {"dashboard.png": "/admin/", "records.png": "/admin/corpus/record/"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="where Tally runs, e.g. http://127.0.0.1:8123")
    parser.add_argument("username")
    parser.add_argument("password")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    OUT.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("dialog", lambda dialog: dialog.dismiss())
        page.goto(base + "/admin/login/")
        page.fill("input[name=username]", args.username)
        page.fill("input[name=password]", args.password)
        page.locator("form button[type=submit], form input[type=submit]").first.click()
        page.wait_for_load_state("networkidle")
        if "/admin/login/" in page.url:
            browser.close()
            print("Sign-in failed: still on the login page.", file=sys.stderr)
            return 1
        for name, path in PAGES.items():
            page.goto(base + path, wait_until="networkidle")
            page.screenshot(path=str(OUT / name))
            print(OUT / name)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
