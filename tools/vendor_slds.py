"""Vendor the Salesforce Lightning Design System into web/static/slds (run by `make vendor-slds`).

The app serves SLDS from its own origin (the CSP allows no CDN), so the files are committed. This
tool fetches the pinned npm release with `npm pack`, checks the tarball against the registry's
integrity hash, copies the stylesheet, the icons listed in ICONS and the licences unchanged, and
writes web/static/slds/MANIFEST.json: the version, the tarball's integrity, and each file's path in
the package with its SHA-256. tests/test_design_system.py checks the committed files against it.

To use another icon: add its name to ICONS, run `make vendor-slds`, commit the result.
"""

import base64
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@salesforce-ux/design-system"
VERSION = "2.264.1"
INTEGRITY = "sha512-HNAyY0sIp39mg+HX11Cxys13FHS5pfA/C1Im7HmzDe/xj1hgwbCkKez/3zgvvEkkAO6453iruxJ10R0Ae+xN1g=="

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "web" / "static" / "slds"

STYLESHEET = "assets/styles/salesforce-lightning-design-system.min.css"
LICENCES = {
    "LICENSE-code.txt": "scss/License-for-Sass.txt",  # BSD 3-Clause, the CSS
    "LICENSE-icons.txt": "assets/icons/License-for-icons.txt",  # CC BY-ND 4.0, the icons
}
# The icons the app uses, by sprite ("utility", "standard"). Files are copied unchanged (the icons'
# licence allows no derivatives); they are white glyphs, used in coloured containers or as masks.
ICONS = {
    "utility": [
        "arrowdown", "arrowup", "case", "check", "chevronright", "clock", "close", "database",
        "down", "download", "edit", "email", "error", "help", "home", "info", "logout",
        "new_window", "refresh", "salesforce1", "search", "settings", "success", "sync",
        "upload", "user", "warning",
    ],
    "standard": [
        "account", "case", "contact", "dashboard", "data_integration_hub", "entitlement", "home",
        "orders", "process", "product", "report", "topic", "user",
    ],
}


def files():
    """(destination relative to web/static/slds, path inside the package) for every vendored file."""
    yield "styles/salesforce-lightning-design-system.min.css", STYLESHEET
    for name, source in LICENCES.items():
        yield name, source
    for sprite, names in ICONS.items():
        for name in names:
            yield f"icons/{sprite}/{name}.svg", f"assets/icons/{sprite}/{name}.svg"


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def fetch(workdir):
    """`npm pack` the pinned release into workdir, check its integrity, and return the unpacked package dir."""
    out = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", str(workdir)],
        check=True, capture_output=True, text=True,
    ).stdout.split()[-1]
    tarball = workdir / out
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != INTEGRITY:
        raise SystemExit(f"{tarball.name}: integrity {digest} is not the pinned {INTEGRITY}")
    with tarfile.open(tarball) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        package = fetch(pathlib.Path(tmp))
        if TARGET.exists():
            shutil.rmtree(TARGET)
        manifest = {"package": PACKAGE, "version": VERSION, "integrity": INTEGRITY, "files": {}}
        for destination, source in files():
            target = TARGET / destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(package / source, target)
            manifest["files"][destination] = {"source": source, "sha256": sha256(target)}
        (TARGET / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"vendored {PACKAGE} {VERSION}: {len(manifest['files'])} files into {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
