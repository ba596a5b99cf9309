"""Where the repository's own files are, for code that reads them (SQL files, the mapping, docs).

Every dyno runs from a checkout of this repository (Heroku's slug is one), so paths are taken
from this file's location, never from the working directory.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
