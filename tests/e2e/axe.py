"""axe-core (Deque's accessibility engine, from npm) run inside a Playwright page: the dashboard's
accessibility is judged by rules nobody here wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

AXE_PACKAGE = "axe-core@4.14.1"
# What issue 15 holds the page to: no violation of these impacts (axe's own severity scale).
BLOCKING_IMPACTS = ("serious", "critical")


def install_axe(folder: Path) -> str:
    """axe.min.js's source, installed from the npm registry into `folder` (npm's cache once fetched)."""
    subprocess.run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error",
                    "--prefix", str(folder), AXE_PACKAGE], check=True, timeout=300)
    return (folder / "node_modules" / "axe-core" / "axe.min.js").read_text()


def violations(page, axe_source: str) -> list[dict]:
    """Every violation axe finds in the page as it is now (WCAG 2.x A/AA and axe's best practices), as
    {id, impact, help, targets}. Evaluated over the DevTools protocol, so the page's CSP does not stop it."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    found = page.evaluate("""async () => {
        const result = await window.axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    return found


def blocking(found: list[dict]) -> list[dict]:
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS]
