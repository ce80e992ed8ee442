"""Real servers for tests, started on 127.0.0.1 on a free port in a temporary directory and stopped by pid.

:func:`redis_server` and :func:`postgres_server` are context managers yielding a URL. When the server
cannot start (binary missing, no permission), :func:`unavailable` skips the test with the reason on a
developer's machine and fails it under ``CI=true``, so a green CI always used the real server. .ci/run
installs both through apt.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

__all__ = ["redis_server", "postgres_server", "unavailable", "free_port"]


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (CI=true) because a service a test needs cannot start."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before accepting connections")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept connections on 127.0.0.1:{port} within {timeout_seconds}s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl is not installed (needed to make a certificate for the TLS redis-server)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    made = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True,
    )
    if made.returncode != 0:
        unavailable(f"openssl could not make a certificate: {made.stderr.strip()[-300:]}")
    return cert, key


@contextmanager
def redis_server(directory: Path, *, tls: bool = False) -> Iterator[str]:
    """A throw-away redis-server; yields ``redis://127.0.0.1:PORT/0``, or with ``tls`` a server that only
    speaks TLS and ``rediss://127.0.0.1:PORT/0?ssl_cert_reqs=required&ssl_ca_certs=CERT``."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    command = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    if tls:
        cert, key = _self_signed_certificate(directory)
        command += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                    "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
        url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={cert}"
    else:
        command += ["--port", str(port)]
        url = f"redis://127.0.0.1:{port}/0"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            _wait_for_port(port, process, "redis-server")
        except RuntimeError as exc:
            unavailable(str(exc))
        yield url
    finally:
        _stop(process)


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    return None


@contextmanager
def postgres_server(directory: Path) -> Iterator[str]:
    """A throw-away PostgreSQL cluster (initdb + postgres, trust auth on 127.0.0.1); yields
    ``postgresql://USER@127.0.0.1:PORT/postgres``. As root it runs as the ``postgres`` user."""
    initdb, postgres = _pg_binary("initdb"), _pg_binary("postgres")
    if initdb is None or postgres is None:
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")
    run_as: str | None = None
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no 'postgres' user to run PostgreSQL as")
        run_as, user = "postgres", "postgres"
        # The cluster must live where the postgres user can write: a directory of its own under /tmp.
        directory = Path(tempfile.mkdtemp(prefix="cfq-pg-"))
        shutil.chown(directory, "postgres")
    data = directory / "data"
    port = free_port()

    def command(*args: str) -> list[str]:
        return ["runuser", "-u", run_as, "--", *args] if run_as else list(args)

    init = subprocess.run(command(initdb, "-D", str(data), "-A", "trust", "-U", user, "--no-sync"),
                          capture_output=True, text=True)
    if init.returncode != 0:
        unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    process = subprocess.Popen(
        command(postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(directory),
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        try:
            _wait_for_port(port, process, "postgres")
        except RuntimeError as exc:
            unavailable(str(exc))
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        _stop(process)
        if run_as:
            shutil.rmtree(directory, ignore_errors=True)
