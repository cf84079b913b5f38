"""Imported by every benchmark script before anything of the project; found because a script
run as `.venv/bin/python bench/<name>.py` has bench/ first on sys.path.

It puts the project root in bench/'s place: there, bench/queue.py would shadow the standard
library's `queue` for everything a script imports (concurrent.futures, httpx, logging, psycopg),
and bench/api.py the project's `api` app. Then the environment every bench process starts from:
the project's settings, DEBUG on (the bench process only loads and checks data; what it serves
runs with DEBUG off) and a SECRET_KEY nothing relies on."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)
else:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
