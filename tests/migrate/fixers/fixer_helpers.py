"""django-upgrade-style helpers: "this stays unchanged" and "this becomes that".

Both run the real transform with an index built from the example project, and check that the
output is valid Python (LibCST and, when the running Python can, ``ast``) and that a second run
changes nothing.
"""

from __future__ import annotations

import ast
import textwrap
from typing import Mapping

import libcst as cst

from celery2cfq.index import build_index
from celery2cfq.model import Options, Transformed
from celery2cfq.transform import transform_source


def run(source: str, *, path: str = "proj/tasks.py", files: Mapping[str, str] | None = None, options: Options | None = None) -> Transformed:
    sources = dict(files or {})
    sources[path] = source
    index = build_index(sources)
    options = options or Options()
    result = transform_source(source, path=path, index=index, options=options)
    cst.parse_module(result.source)
    try:
        ast.parse(result.source)
    except SyntaxError:
        pass  # newer syntax than the running Python; LibCST parsed it above
    again = transform_source(result.source, path=path, index=build_index({**sources, path: result.source}), options=options)
    assert again.source == result.source, "a second run changed the output"
    # Removals report once (the option is gone on the second run); nothing new may appear.
    assert {f.code for f in again.findings} <= {f.code for f in result.findings}
    return result


def check_noop(source: str, **kwargs) -> Transformed:
    source = textwrap.dedent(source)
    result = run(source, **kwargs)
    assert result.source == source
    return result


def check_transformed(before: str, after: str, **kwargs) -> Transformed:
    before, after = textwrap.dedent(before), textwrap.dedent(after)
    result = run(before, **kwargs)
    assert result.source == after
    return result


def codes(result: Transformed) -> list[str]:
    return [finding.code for finding in result.findings]
