"""Walk a built site: every href, src and CSS url() of every page must resolve to a file inside it.

Also a script: `python tests/sitecheck.py SITE` exits non-zero on a broken link (the Pages workflow runs it)."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")


class LinkCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag, attributes):
        self.in_style = tag == "style"
        for name, value in attributes:
            if name in ("href", "src", "data-src") and value is not None:
                self.links.append(value)
            elif name == "style" and value is not None:
                self.links.extend(CSS_URL.findall(value))

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.links.extend(CSS_URL.findall(data))


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


def main(folders: list[str]) -> int:
    """`python tests/sitecheck.py SITE...`: print each broken link; exit 1 if there is one (or no site)."""
    if not folders:
        print("usage: python tests/sitecheck.py SITE [SITE...]", file=sys.stderr)
        return 2
    failed = False
    for folder in map(Path, folders):
        if not (folder / "index.html").is_file():
            print(f"{folder}: no index.html, not a built site", file=sys.stderr)
            failed = True
            continue
        problems = broken_links(folder)
        for problem in problems:
            print(f"{folder}/{problem}", file=sys.stderr)
        num_pages = sum(1 for _ in folder.rglob("*.html"))
        print(f"{folder}: {num_pages} pages, " + (f"{len(problems)} broken links" if problems
                                                  else "every link resolves inside the site"))
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
