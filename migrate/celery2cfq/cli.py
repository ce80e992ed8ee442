"""``celery2cfq``: the migration tool's command line. A thin layer: it reads options and the config
file, calls :func:`celery2cfq.engine.run`, prints and sets the exit code.

stdout carries content (diffs, reports, or the code read from ``-``); stderr carries status and
progress. The tool reads no environment variables, so it cannot print a token from one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from . import __version__
from .config import ConfigError, load_config
from .discover import project_root
from .model import DEFAULT_BROKER, Options

EXIT_CODES_HELP = """\b
Exit codes:
  0  nothing is left to change, or all changes were written
  1  with --check or --diff: something would change (0 with --exit-zero)
  2  a file could not be processed (the others were); also bad usage
"""

#: Below this many files a progress bar would only flicker.
PROGRESS_BAR_MIN_FILES = 200


def known_codes() -> frozenset[str]:
    """Every fixer and finding code, for validating --only/--skip."""
    from .files.rules import FILE_CODES
    from .fixers import ALL_CODES

    return frozenset(ALL_CODES) | FILE_CODES


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="celery2cfq")
def main() -> None:
    """Migrate Celery code to cfq_shim on Cloudflare Queues."""


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, allow_dash=True, path_type=Path))
@click.option("--diff", "show_diff", is_flag=True, help="Print unified diffs; write nothing.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if anything would change.")
@click.option("--report", "report_format", type=click.Choice(["text", "json", "markdown", "sarif", "github"]),
              help="Report format (default: text). json: docs/report-schema.md; sarif: SARIF 2.1.0 (GitHub "
                   "Code Scanning); github: GitHub Actions annotations.")
@click.option("--report-file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the report to FILE instead of stdout.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes (default: CPU count).")
@click.option("--exclude", "excludes", multiple=True, metavar="GLOB",
              help="Skip files and directories matching GLOB (repeatable).")
@click.option("--only", multiple=True, metavar="CODE", help="Run only these fixers/findings (repeatable, or comma-separated).")
@click.option("--skip", multiple=True, metavar="CODE", help="Do not run these fixers/findings (repeatable, or comma-separated).")
@click.option("--broker", metavar="URL",
              help=f"What a Redis/AMQP/SQS broker becomes (default: {DEFAULT_BROKER}; e.g. sqlite:///tasks.db).")
@click.option("--result-backend", metavar="URL",
              help="Replace every result backend the project configures with URL (redis://, rediss://, db+..., "
                   "django-db, sqlite:///path, d1://DATABASE_ID or memory://). Default: supported ones are kept.")
@click.option("--todo-comments/--no-todo-comments", default=None,
              help="Insert '# TODO(celery2cfq): CODE ...' at each finding's line.")
@click.option("--exit-zero", is_flag=True,
              help="Exit 0 even when something would change (a file that fails still exits 2).")
@click.option("--only-python", is_flag=True,
              help="Rewrite Python files only: leave Procfiles, Dockerfiles, compose and Kubernetes YAML, "
                   "shell scripts, systemd and supervisor units, Makefiles, .env and requirements files alone.")
@click.option("-v", "--verbose", count=True, help="More detail (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less output: only errors.")
def rewrite(
    paths: tuple[Path, ...], show_diff: bool, check: bool, report_format: str | None,
    report_file: Path | None, jobs: int | None, excludes: tuple[str, ...], only: tuple[str, ...],
    skip: tuple[str, ...], broker: str | None, todo_comments: bool | None, exit_zero: bool, only_python: bool,
    verbose: int, quiet: int, result_backend: str | None = None,
) -> None:
    """Migrate the Celery code under PATH... to cfq_shim.

    Besides Python, the files that start, configure and install Celery are rewritten too (see
    docs/rules.md, CFQ6xx and CFQ7xx), unless --only-python.

    Without --diff or --check, changed files are written in place (atomically, keeping encoding,
    line endings and file mode). "-" reads one file from stdin and writes the result to stdout.
    """
    from . import engine, report

    verbosity = verbose - quiet
    reading_stdin = any(str(p) == "-" for p in paths)
    if reading_stdin and len(paths) > 1:
        raise click.UsageError("'-' (stdin) cannot be combined with other paths")
    start = Path.cwd() if reading_stdin else project_root(list(paths))
    try:
        config = load_config(start)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    options = Options(
        broker=_broker(broker or config.broker or DEFAULT_BROKER),
        result_backend=_result_backend(result_backend or config.result_backend),
        todo_comments=bool(todo_comments if todo_comments is not None else config.todo_comments),
        only=_codes(only or config.only, "--only" if only else f"'only' in {config.source}"),
        skip=_codes(skip or config.skip, "--skip" if skip else f"'skip' in {config.source}"),
    )
    fmt = report_format or config.report or "text"
    if fmt not in report.FORMATS:
        raise click.UsageError(f"{config.source}: report must be one of {', '.join(report.FORMATS)}")
    mode: report.Mode = "diff" if show_diff else "check" if check else "write"
    status = _Status(verbosity)
    if config.source is not None:
        status.info(f"using settings from {config.source}", level=1)

    started = time.perf_counter()
    if reading_stdin:
        result = _rewrite_stdin(options, mode=mode)
    else:
        try:
            result = engine.run(
                list(paths), options=options, jobs=jobs or config.jobs or engine.default_jobs(),
                excludes=tuple(excludes) + config.exclude, write=mode == "write", progress=status.progress,
                only_python=only_python or config.only_python,
            )
        except KeyboardInterrupt:
            status.close()
            click.echo("celery2cfq: interrupted; every file is either fully rewritten or untouched",
                       err=True)
            sys.exit(130)
        finally:
            status.close()
    status.info(f"done in {time.perf_counter() - started:.2f}s", level=1)

    rendered = report.render(result, format=fmt, mode=mode, verbosity=verbosity)
    diffs = "".join(f.diff for f in result.files) if show_diff else ""
    if report_file is not None:
        try:
            report_file.write_text(rendered, encoding="utf-8")
        except OSError as exc:
            click.echo(f"celery2cfq: could not write the report to {report_file}: {exc.strerror or exc}",
                       err=True)
            sys.exit(engine.EXIT_FAILED)
        if not reading_stdin:  # stdin's diff or code is already on stdout
            _emit(diffs)
    elif reading_stdin:
        click.echo(rendered, err=True, nl=False)
    elif fmt in ("text", "github"):  # the Actions runner picks annotation lines out of any output
        _emit(diffs + rendered)
    else:  # a JSON, SARIF or Markdown document on stdout must stay parseable: its diffs are inside it
        _emit(rendered)
    code = result.exit_code(check_or_diff=mode != "write")
    if code == engine.EXIT_WOULD_CHANGE and (exit_zero or config.exit_zero):
        code = engine.EXIT_OK
    sys.exit(code)


def _rewrite_stdin(options: Options, *, mode: str):
    """Read one file from stdin; print the rewritten code (or its diff) to stdout. A file that
    cannot be migrated is printed back unchanged, so an editor piping through us loses nothing."""
    from . import engine

    data = sys.stdin.buffer.read()
    result = engine.run_bytes(data, display="-", options=options)
    if mode == "write":
        sys.stdout.buffer.write(result.new_bytes if result.new_bytes is not None else data)
        sys.stdout.buffer.flush()
    elif mode == "diff":
        _emit(result.diff)
    files = (result,)
    return engine.RunResult(files=files, summary=engine.Summary.of(files), written=False)


def _emit(text: str, *, err: bool = False) -> None:
    if text:
        click.echo(text, nl=False, err=err)


def _broker(url: str) -> str:
    if "://" not in url:
        raise click.BadParameter(f"{url!r} is not a URL (expected e.g. cloudflare:// or sqlite:///tasks.db)",
                                 param_hint="--broker")
    return url


def _result_backend(url: str | None) -> str | None:
    from .fixers.result_backend import SUPPORTED_BACKENDS, backend_scheme, is_supported_backend

    if url is not None and not is_supported_backend(url):
        raise click.BadParameter(
            f"{backend_scheme(url)!r} is not a result backend cfq_shim supports; use one of {', '.join(SUPPORTED_BACKENDS)}",
            param_hint="--result-backend",
        )
    return url


def _codes(values: Iterable[str], option: str) -> frozenset[str]:
    codes = frozenset(code.strip() for value in values for code in value.split(",") if code.strip())
    if not codes:
        return codes
    known = known_codes()
    unknown = sorted(codes - known)
    if unknown:
        raise click.BadParameter(
            f"unknown code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known codes: {', '.join(sorted(known))}",
            param_hint=option,
        )
    return codes


class _Status:
    """Status lines and the progress bar, on stderr only."""

    def __init__(self, verbosity: int) -> None:
        self._verbosity = verbosity
        self._bar = None
        self._shown = 0
        self._enabled = verbosity >= 0 and _stderr_is_terminal()

    def info(self, message: str, *, level: int = 0) -> None:
        if self._verbosity >= level:
            click.echo(f"celery2cfq: {message}", err=True)

    @property
    def progress(self) -> Callable[[int, int], None] | None:
        return self._update if self._enabled else None

    def _update(self, done: int, total: int) -> None:
        if total < PROGRESS_BAR_MIN_FILES:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label="migrating", file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done - self._shown)
        self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
