"""``python -m cfq_shim``: the same CLI as the ``cfq-shim`` script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="cfq-shim")
