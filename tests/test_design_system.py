"""The vendored Lightning Design System is the pinned release, unchanged, with its licences."""

import json
import pathlib

from tools import vendor_slds

SLDS = vendor_slds.TARGET
MANIFEST = json.loads((SLDS / "MANIFEST.json").read_text())


def test_the_manifest_is_the_pinned_release():
    assert MANIFEST["package"] == vendor_slds.PACKAGE
    assert MANIFEST["version"] == vendor_slds.VERSION
    assert MANIFEST["integrity"] == vendor_slds.INTEGRITY
    assert {d: s for d, s in vendor_slds.files()} == {d: f["source"] for d, f in MANIFEST["files"].items()}


def test_every_vendored_file_is_byte_for_byte_the_released_one():
    on_disk = {str(p.relative_to(SLDS)) for p in SLDS.rglob("*") if p.is_file()} - {"MANIFEST.json"}
    assert on_disk == set(MANIFEST["files"]), "files added to or missing from web/static/slds"
    changed = [d for d, f in MANIFEST["files"].items() if vendor_slds.sha256(SLDS / d) != f["sha256"]]
    assert changed == []


def test_the_stylesheet_announces_the_pinned_version():
    head = (SLDS / "styles/salesforce-lightning-design-system.min.css").read_text()[:200]
    assert f"Lightning Design System {vendor_slds.VERSION}" in head


def test_the_licences_ship_with_the_files():
    assert "Redistribution and use in source and binary forms" in (SLDS / "LICENSE-code.txt").read_text()
    assert "Attribution-NoDerivatives 4.0" in (SLDS / "LICENSE-icons.txt").read_text()


def test_templates_use_only_vendored_icons():
    templates = pathlib.Path(vendor_slds.ROOT, "web", "templates")
    vendored = {d for d in MANIFEST["files"] if d.startswith("icons/")}
    used = set()
    for template in templates.rglob("*.html"):
        text = template.read_text()
        for part in text.split("slds/icons/")[1:]:
            used.add("icons/" + part.split(".svg")[0] + ".svg")
    assert used <= vendored, f"not vendored: {sorted(used - vendored)}"
