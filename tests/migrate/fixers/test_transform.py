"""transform_source as the engine sees it: errors, the cheap path, syntax, newlines."""

from __future__ import annotations

import pytest
from fixer_helpers import check_noop, check_transformed, codes

from celery2cfq import transform
from celery2cfq.fixers import ALL_CODES
from celery2cfq.index import build_index
from celery2cfq.model import Options, SourceError
from celery2cfq.transform import transform_source


def test_syntax_error_names_the_line():
    source = "from celery import shared_task\n\n\ndef broken(:\n    pass\n"
    with pytest.raises(SourceError, match=r"^line 4: "):
        transform_source(source, path="a.py", index=build_index({"a.py": source}), options=Options())


def test_files_without_celery_skip_the_libcst_parse(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("LibCST parse on a file with nothing Celery in it")

    monkeypatch.setattr(transform.cst, "parse_module", fail)
    source = "import asyncio\n\nasync def main():\n    task = asyncio.create_task(work())\n    await task\n"
    result = transform_source(source, path="a.py", index=build_index({"a.py": source}), options=Options())
    assert result.source == source and result.findings == ()


def test_newer_syntax_is_rewritten():
    check_transformed(
        "from celery import shared_task\ntype X = int\n@shared_task(priority=1)\ndef f[T](x: T) -> T:\n    return x\n",
        "from cfq_shim import shared_task\ntype X = int\n@shared_task\ndef f[T](x: T) -> T:\n    return x\n",
    )


def test_crlf_newlines_are_kept():
    check_transformed("from celery import Celery\r\napp = Celery('x')\r\n", "from cfq_shim import Celery\r\napp = Celery('x')\r\n")


def test_comments_and_formatting_are_kept():
    check_transformed(
        "# head\nfrom celery import Celery  # app class\n\n\napp = Celery(  # build\n    'x',\n    broker = 'redis://' ,\n)\n",
        "# head\nfrom cfq_shim import Celery  # app class\n\n\napp = Celery(  # build\n    'x',\n    broker = 'cloudflare://' ,\n)\n",
    )


def test_only_one_code_runs():
    check_transformed(
        "from cfq_shim import Celery\napp = Celery('x', broker='redis://')\napp.control.inspect()\n",
        "from cfq_shim import Celery\napp = Celery('x', broker='cloudflare://')\napp.control.inspect()\n",
        options=Options(only=frozenset({"CFQ201"})),
    )


def test_only_the_broker_rule_leaves_an_app_still_built_by_celery_alone():
    # The import rules are off, so Celery builds the app: it cannot use cloudflare:// (CFQ104).
    result = check_noop(
        "from celery import Celery\napp = Celery('x', broker='redis://')\n",
        options=Options(only=frozenset({"CFQ201", "CFQ104"})),
    )
    assert codes(result) == ["CFQ104"]


def test_skipping_every_code_changes_nothing():
    result = check_noop(
        "from celery import Celery\napp = Celery('x', broker='redis://')\napp.control.inspect()\n",
        options=Options(skip=ALL_CODES),
    )
    assert result.findings == ()


def test_an_empty_file():
    check_noop("")


def test_a_file_indexed_under_another_project_still_works():
    """stdin, or a file the engine did not index: the transform reads its own module."""
    source = "from celery import shared_task\n@shared_task(priority=2)\ndef t():\n    pass\n"
    result = transform_source(source, path="-", index=build_index({}), options=Options())
    assert "priority" not in result.source and result.tasks_found == 1


SAMPLE = '''\
"""Doc."""
from celery import Celery, shared_task  # comment
import os; x = 1

app = Celery("p", broker="redis://")


# a comment

@shared_task(
    bind=True,
    priority=3,
)
def a(self):
    app.control.inspect().conf()


class Holder:
    """Many lines."""

    def method(self):
        return app.control


@app.task(serializer="pickle")
async def b():
    pass

r = a.delay(); r.get()
'''


def _whole_module(monkeypatch, *, skip: bool) -> None:
    """Switch the transform from statement chunks to one parse of the whole module, with or
    without skipping statements no fixer can act in."""
    monkeypatch.setattr(transform, "_chunk_lines", lambda source, tree: None)
    if not skip:
        monkeypatch.setattr(transform, "_align", lambda parsed, tree: None)


def test_line_numbers_agree_in_every_mode(monkeypatch):
    index = build_index({"s.py": SAMPLE})
    chunked = transform_source(SAMPLE, path="s.py", index=index, options=Options())
    _whole_module(monkeypatch, skip=True)
    skipping = transform_source(SAMPLE, path="s.py", index=index, options=Options())
    _whole_module(monkeypatch, skip=False)
    whole = transform_source(SAMPLE, path="s.py", index=index, options=Options())
    assert chunked == skipping == whole
    assert [(f.code, f.line) for f in chunked.findings] == [
        ("CFQ301", 12), ("CFQ501", 15), ("CFQ501", 22), ("CFQ302", 25), ("CFQ502", 29),
    ]


MODE_CASES = [
    SAMPLE,
    "# header comment\n\n\nfrom celery import Celery\napp = Celery('p', broker='redis://')\n# footer comment\n",
    "from celery import Celery\r\n\r\n# c\r\napp = Celery('p', broker='redis://')",  # CRLF, no final newline
    "from celery import shared_task; import os\n\n@shared_task(priority=1)\n# between\n@other\nclass C:\n    pass\n",
    "from celery import shared_task\nif True:\n    @shared_task(priority=1)\n    def t():\n        pass\nelse:\n    x = 1\n",
    '"""doc"""\nfrom celery import bootsteps, Celery\n\\\n\nx = [\n    1,\n]\n',
    "from celery import shared_task\n\ndef f():\n    pass\n    # trailing\n\n@shared_task(priority=1)\ndef t():\n    pass\n",
    "from celery import shared_task\n@shared_task(priority=1)\ndef t():\n    pass\n    # trailing\n\n# lead\nx = 1\n",
]


@pytest.mark.parametrize("source", MODE_CASES)
@pytest.mark.parametrize("todo", [False, True])
def test_every_mode_gives_the_same_output(source, todo, monkeypatch):
    index = build_index({"s.py": source})
    options = Options(todo_comments=todo)
    chunked = transform_source(source, path="s.py", index=index, options=options)
    _whole_module(monkeypatch, skip=True)
    skipping = transform_source(source, path="s.py", index=index, options=options)
    _whole_module(monkeypatch, skip=False)
    whole = transform_source(source, path="s.py", index=index, options=options)
    assert chunked == skipping == whole
    assert chunked.source != source


def test_todo_comment_above_the_first_statement_is_added_once():
    check_transformed(
        "from celery import bootsteps\n",
        "# TODO(celery2cfq): CFQ103 cfq_shim does not provide bootsteps (from celery); left on Celery\n"
        "from celery import bootsteps\n",
        options=Options(todo_comments=True),
    )


def test_every_mode_agrees_on_the_corpus(monkeypatch):
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[3] / "corpus"
    for case in sorted(corpus.glob("*/before")):
        sources = {p.relative_to(case).as_posix(): p.read_text() for p in case.rglob("*.py")}
        index = build_index(sources)

        def run_all(options):
            results = {}
            for path, source in sources.items():
                try:
                    results[path] = transform_source(source, path=path, index=index, options=options)
                except SourceError as error:
                    results[path] = str(error)
            return results

        for options in (Options(), Options(todo_comments=True)):
            with monkeypatch.context() as patch:
                chunked = run_all(options)
                _whole_module(patch, skip=False)
                whole = run_all(options)
            assert chunked == whole, case


@pytest.mark.parametrize(
    "body",
    ["x = " + "(" * 5000 + "1" + ")" * 5000 + "\n", "x = 1" + " + 1" * 100_000 + "\n"],
    ids=["parentheses", "long-chain"],
)
def test_nesting_python_refuses_is_an_error_not_a_crash(body):
    """CPython refuses these; LibCST's native parser can overflow its stack on them, so the text
    never reaches it (in the index or the transform)."""
    source = "from celery import shared_task\n" + body
    index = build_index({"deep.py": source})
    with pytest.raises(SourceError, match="nested too deeply for Python"):
        transform_source(source, path="deep.py", index=index, options=Options())
