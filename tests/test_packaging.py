"""The distribution installs both import names and both console scripts."""

import subprocess
import sys


def test_both_packages_import_without_each_other():
    code = (
        "import sys, celery2cfq, cfq_shim;"
        "print(celery2cfq.__version__, cfq_shim.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0.1.0", "0.1.0"]


def test_shim_never_imports_libcst_or_celery():
    code = "import sys, cfq_shim, cfq_shim.cli; print(sorted(m for m in ('libcst', 'celery') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_codemod_never_imports_the_shim():
    code = "import sys, celery2cfq.cli; print('cfq_shim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
