"""Report renderers: the JSON schema's fields, text lines and Markdown."""

from __future__ import annotations

import json

from celery2cfq.engine import RunResult, Summary
from celery2cfq.model import FileResult, Finding
from celery2cfq.report import SCHEMA_VERSION, render, to_data

FILES = (
    FileResult(path="app/bad.py", error="line 2: does not parse"),
    FileResult(path="app/tasks.py", changed=True, tasks_found=2, call_sites=3,
               findings=(Finding(7, "C2C900", "inspect() | has no equivalent", column=4),),
               diff="--- a/app/tasks.py\n+++ b/app/tasks.py\n@@ -1 +1 @@\n-a\n+b\n", new_bytes=b"b\n"),
    FileResult(path="app/util.py"),
)
RESULT = RunResult(files=FILES, summary=Summary.of(FILES))


def test_summary_counts():
    s = RESULT.summary
    assert (s.files_scanned, s.files_changed, s.files_failed, s.tasks_found, s.call_sites) == (3, 1, 1, 2, 3)
    assert s.findings == {"C2C900": 1}


def test_json_schema_fields():
    data = json.loads(render(RESULT, format="json", mode="diff"))
    assert data == to_data(RESULT, mode="diff")
    assert data["schema_version"] == SCHEMA_VERSION == 1 and data["mode"] == "diff"
    assert data["summary"] == {"files_scanned": 3, "files_changed": 1, "files_failed": 1, "tasks_found": 2,
                               "call_sites": 3, "findings": {"C2C900": 1}}
    assert [f["path"] for f in data["files"]] == ["app/bad.py", "app/tasks.py", "app/util.py"]
    assert data["files"][0]["error"] == "line 2: does not parse"
    assert data["files"][1]["findings"] == [
        {"code": "C2C900", "line": 7, "column": 4, "message": "inspect() | has no equivalent"}]
    assert all("new_bytes" not in f for f in data["files"])


def test_text_report_lines():
    text = render(RESULT, format="text", mode="write")
    assert text.splitlines() == [
        "app/bad.py: error: line 2: does not parse",
        "app/tasks.py:7:4: C2C900 inspect() | has no equivalent",
        "app/tasks.py: rewritten",
        "3 files scanned, 1 rewritten, 1 failed; 2 tasks, 3 call sites; 1 finding (C2C900: 1)",
    ]
    assert render(RESULT, format="text", mode="check", verbosity=-1) == "app/bad.py: error: line 2: does not parse\n"
    assert "app/util.py: unchanged" in render(RESULT, format="text", mode="check", verbosity=1)


def test_markdown_escapes_pipes_and_includes_the_diff():
    md = render(RESULT, format="markdown", mode="diff")
    assert md.startswith("# celery2cfq report\n")
    assert "| 7 | C2C900 | inspect() \\| has no equivalent |" in md
    assert "```diff\n--- a/app/tasks.py" in md
    assert "- `app/bad.py`: line 2: does not parse" in md
    assert "Would be rewritten." in md
