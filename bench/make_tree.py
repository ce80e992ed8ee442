"""Build the source trees the codemod benchmark runs over.

    python bench/make_tree.py django-like OUT [--lines 1000000] [--celery-share 0.03]
    python bench/make_tree.py all-celery OUT [--lines 100000]

``django-like``: the ``.py`` files of real sdists (``pip download --no-binary :all:``; Django first,
then other large pure-Python packages until ``--lines`` is reached), with generated Celery projects
mixed in so that about ``--celery-share`` of the files are Celery code.
``all-celery``: only generated Celery projects.

The generated Celery code is benchmark input written for this project: Django-style apps with
``shared_task`` and ``app.task`` tasks, options, ``.delay()``/``.apply_async()`` call sites and
configuration, padded with ordinary helper code so file sizes look like real modules.
Downloads are cached in ``bench/results/sdists``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

SDIST_PACKAGES = ("django", "sqlalchemy", "djangorestframework", "sympy")
CACHE = Path(__file__).parent / "results" / "sdists"

APP_MODULE = '''\
import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{proj}.settings")

app = Celery("{proj}")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {{
    "cleanup-every-night": {{
        "task": "{proj}.tasks0.cleanup",
        "schedule": crontab(hour=3, minute=0),
    }},
}}


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    print(f"Request: {{self.request!r}}")
'''

SETTINGS_MODULE = '''\
import os

SECRET_KEY = "benchmark-only"
DEBUG = False
INSTALLED_APPS = ["django.contrib.contenttypes", "{proj}"]
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/1")
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_DEFAULT_QUEUE = "default"
'''

TASKS_HEADER = '''\
"""Background jobs for {proj} (generated for the celery2cfq benchmark)."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger

from {proj}.celery import app

logger = get_task_logger(__name__)
log = logging.getLogger(__name__)
'''

TASK_TEMPLATES = (
    '''

@shared_task
def {name}(item_id, *, force=False):
    """Process one item."""
    logger.info("processing %s", item_id)
    total = 0
    for step in range(10):
        total += _weight(item_id, step)
    return total
''',
    '''

@shared_task(bind=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def {name}(self, user_id, payload=None):
    try:
        result = _transform(payload or {{}})
    except SoftTimeLimitExceeded:
        log.warning("soft limit for %s", user_id)
        raise
    return {{"user": user_id, "result": result}}
''',
    '''

@app.task(queue="reports", soft_time_limit=60, time_limit=120, acks_late=True)
def {name}(report_id):
    rows = [_weight(report_id, n) for n in range(50)]
    summary = sum(rows) / max(len(rows), 1)
    logger.debug("report %s: %s", report_id, summary)
    return summary
''',
    '''

@app.task(bind=True, max_retries=3, rate_limit="10/m")
def {name}(self, url):
    try:
        return _fetch(url)
    except ConnectionError as exc:
        raise self.retry(exc=exc, countdown=30)
''',
)

CALLERS = '''

def schedule_{name}(ids):
    for item_id in ids:
        {name}.delay(item_id)
    {name}.apply_async(args=(ids[0],), countdown=10, queue="default")
    return [{name}.s(i) for i in ids]
'''

HELPERS = '''

def _weight(value, step):
    """Deterministic busy-work that looks like ordinary application code."""
    if step % 3 == 0:
        return value * step
    elif step % 3 == 1:
        return value + step
    return (value - step) or 1


def _transform(payload):
    out = {}
    for key, value in sorted(payload.items()):
        if isinstance(value, str):
            out[key] = value.strip().lower()
        elif isinstance(value, (int, float)):
            out[key] = value * 2
        else:
            out[key] = repr(value)
    return out


def _fetch(url):
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not a URL: {url}")
    return {"url": url, "status": 200}
'''

PADDING = '''

class {cls}:
    """Plain application code, not Celery: the bulk of a real module."""

    def __init__(self, name, size=10):
        self.name = name
        self.size = size
        self.items = []

    def add(self, item):
        if len(self.items) >= self.size:
            raise OverflowError(self.name)
        self.items.append(item)
        return len(self.items)

    def delay(self, seconds):
        """Not a Celery task: a .delay() the codemod must leave alone."""
        return seconds * self.size

    def summary(self):
        return {{"name": self.name, "count": len(self.items), "first": self.items[:1]}}
'''

VIEWS_MODULE = '''\
from django.http import JsonResponse

from {proj}.tasks0 import {first_task}
from {proj}.tasks0 import schedule_{first_task}


def start(request, item_id):
    {first_task}.delay(item_id)
    result = {first_task}.apply_async((item_id,), countdown=5)
    schedule_{first_task}([item_id])
    return JsonResponse({{"task_id": result.id}})
'''


def celery_project(root: Path, proj: str, *, task_files: int, rng: random.Random) -> int:
    """Write one generated Celery project; return the number of files written."""
    pkg = root / proj
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("from .celery import app as celery_app\n\n__all__ = ('celery_app',)\n")
    (pkg / "celery.py").write_text(APP_MODULE.format(proj=proj))
    (pkg / "settings.py").write_text(SETTINGS_MODULE.format(proj=proj))
    first_task = ""
    for n in range(task_files):
        parts = [TASKS_HEADER.format(proj=proj)]
        for t in range(rng.randint(6, 12)):
            name = f"task_{n}_{t}" if (n, t) != (0, 0) else "cleanup"
            first_task = first_task or name
            parts.append(rng.choice(TASK_TEMPLATES).format(name=name))
            parts.append(CALLERS.format(name=name))
        parts.append(HELPERS)
        for c in range(rng.randint(1, 4)):
            parts.append(PADDING.format(cls=f"Helper{n}x{c}"))
        (pkg / f"tasks{n}.py").write_text("".join(parts))
    (pkg / "views.py").write_text(VIEWS_MODULE.format(proj=proj, first_task=first_task))
    return task_files + 4


def download(package: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    existing = sorted(CACHE.glob(f"{package}-*")) + sorted(CACHE.glob(f"{package.replace('-', '_')}-*"))
    if existing:
        return existing[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(CACHE), package],
        check=True, stdout=subprocess.DEVNULL,
    )
    return download(package)


def sdist_members(archive: Path):
    """(relative path, bytes) of every .py file in an sdist."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for name in sorted(z.namelist()):
                if name.endswith(".py"):
                    yield name, z.read(name)
        return
    with tarfile.open(archive) as t:
        for member in sorted(t.getmembers(), key=lambda m: m.name):
            if member.isfile() and member.name.endswith(".py"):
                data = t.extractfile(member)
                if data is not None:
                    yield member.name, data.read()


def django_like(out: Path, *, lines: int, celery_share: float, seed: int) -> tuple[int, int, int]:
    rng = random.Random(seed)
    files = total_lines = 0
    for package in SDIST_PACKAGES:
        if total_lines >= lines:
            break
        for name, data in sdist_members(download(package)):
            if total_lines >= lines:
                break
            target = out / "vendor" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            files += 1
            total_lines += data.count(b"\n")
    wanted = int(files * celery_share / (1 - celery_share))
    celery_files = 0
    n = 0
    while celery_files < wanted:
        celery_files += celery_project(out, f"svc{n}", task_files=rng.randint(2, 6), rng=rng)
        n += 1
    return files, celery_files, total_lines


def all_celery(out: Path, *, lines: int, seed: int) -> tuple[int, int, int]:
    rng = random.Random(seed)
    files = n = 0
    while count_lines(out) < lines:
        files += celery_project(out, f"proj{n}", task_files=rng.randint(3, 8), rng=rng)
        n += 1
    return 0, files, count_lines(out)


def count_lines(root: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in root.rglob("*.py")) if root.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["django-like", "all-celery"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, help="target line count (default: 1,000,000 / 100,000)")
    parser.add_argument("--celery-share", type=float, default=0.03, help="share of files that are Celery code")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    if args.kind == "django-like":
        other, celery, _ = django_like(args.out, lines=args.lines or 1_000_000, celery_share=args.celery_share,
                                       seed=args.seed)
    else:
        other, celery, _ = all_celery(args.out, lines=args.lines or 100_000, seed=args.seed)
    print(f"{args.out}: {other + celery:,} .py files ({celery:,} generated Celery files), "
          f"{count_lines(args.out):,} lines")


if __name__ == "__main__":
    main()
