"""``python -m celery2cfq``: the same as the ``celery2cfq`` command."""

from celery2cfq.cli import main

if __name__ == "__main__":
    main(prog_name="celery2cfq")
