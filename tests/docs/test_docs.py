"""The guides stand alone: every link resolves in the repository, examples match the files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.settings import Settings
from tests.messages import COMPACT_EXAMPLE, MERLIN_EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
EXAMPLE = re.compile(r"<!-- example: (\S+) -->\n```xml\n(.*?)```", re.S)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower())
            found.add(text.replace(" ", "-"))
    return found


def _resolves(page: Path, target: str) -> bool:
    """Whether a relative link names a file of the repository (and a heading of a page)."""
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.exists() or ROOT not in (resolved, *resolved.parents):
        return False
    return not (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    """Relative links name files that exist, and their #anchors headings that exist."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        if not _resolves(page, target):
            broken.append(target)
    assert not broken, f"{page.name}: links that do not resolve: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_points_outside_the_repository(page: Path) -> None:
    """Nothing sends a reader to files a clone does not have."""
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"\.\./shared|shared/specs|shared/DESIGN|/work/", text)


def test_the_guides_examples_are_the_bundled_files_verbatim() -> None:
    """Each example the police guide shows is exactly the file it names (and there are two)."""
    guide = (ROOT / "docs" / "police-it.md").read_text(encoding="utf-8")
    shown = EXAMPLE.findall(guide)
    assert [path for path, _ in shown] == [
        "mappings/examples/merlin-report.xml",
        "mappings/examples/compact-report.xml",
    ]
    for path, text in shown:
        assert text == (ROOT / path).read_text(encoding="utf-8"), path


def test_the_bundled_reports_are_the_spec_examples_the_tests_use() -> None:
    """mappings/examples' two reports are the examples tests/messages.py holds."""
    examples = ROOT / "mappings" / "examples"
    assert (examples / "merlin-report.xml").read_text(encoding="utf-8") == MERLIN_EXAMPLE
    assert (examples / "compact-report.xml").read_text(encoding="utf-8") == COMPACT_EXAMPLE


def test_every_setting_is_in_the_operations_guide() -> None:
    """Each GATEWAY_* variable the settings read is described in docs/operations.md."""
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [
        f"GATEWAY_{name.upper()}"
        for name in Settings.model_fields
        if f"GATEWAY_{name.upper()}" not in guide
    ]
    assert not missing, f"settings not described in docs/operations.md: {missing}"


def test_every_command_is_in_the_readmes_table() -> None:
    """Each `gateway` command has a row in the README's "Operating it" table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in main.commands if f"| `gateway {name}" not in readme]
    assert not missing, f"commands missing from the README: {missing}"
    missing = [name for name in main.commands if f"| `gateway {name}" not in readme]
    assert not missing, f"commands missing from the README: {missing}"


# The interface agreements police and suppliers signed are not shipped: a clone has only the
# guides in docs/, so a file that names an agreement by its file name sends the reader nowhere.
AGREEMENT = re.compile(
    r"\.\./shared|shared/specs|\bDESIGN\.md|\bSTYLE\.md|(?<![\w/-])"
    r"(merlin|compact|mosaic|fwi|protocol|councils|gateway-api|canonical-codes)\.md\b"
)
SHIPPED = [
    path
    for path in sorted(ROOT.rglob("*"))
    if path.is_file()
    and path.suffix in {".py", ".md", ".toml", ".yaml", ".yml", ".xsd", ".json", ".cfg", ".txt"}
    and not {".git", ".venv", "node_modules", "data"} & set(path.relative_to(ROOT).parts)
    and "egg-info" not in str(path)
    and path.name != "CHANGELOG.md"  # history names what each release changed, as it was then
    and path != Path(__file__)
]


def test_no_file_names_an_agreement_the_repository_does_not_ship() -> None:
    """Comments, manifests, schemas and mappings point at docs/, never at unshipped files."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
        for path in SHIPPED
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        )
        for match in [AGREEMENT.search(line)]
        if match
    ]
    assert not found, "\n".join(found)
