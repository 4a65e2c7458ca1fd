"""Walk a built site: every href and src of every page must resolve to a file inside it."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class LinkCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attributes):
        for name, value in attributes:
            if name in ("href", "src") and value is not None:
                self.links.append(value)


def broken_links(site: Path) -> list[str]:
    """'page: link (why)' for each link that leaves the site, is absolute, or names no file."""
    root = site.resolve()
    problems = []
    for page in sorted(root.rglob("*.html")):
        collector = LinkCollector()
        collector.feed(page.read_text(encoding="utf-8"))
        for link in collector.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("/"):
                problems.append(f"{page.relative_to(root)}: {link} (not page-relative)")
                continue
            if not parts.path:
                continue  # a fragment on the same page
            target = (page.parent / unquote(parts.path)).resolve()
            if root not in target.parents and target != root:
                problems.append(f"{page.relative_to(root)}: {link} (outside the site)")
            elif not target.is_file():
                problems.append(f"{page.relative_to(root)}: {link} (no such file)")
    return problems
