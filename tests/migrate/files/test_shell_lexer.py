"""The shell lexer: words with exact positions, values and literal prefixes."""

from __future__ import annotations

import shlex

import pytest

from celery2cfq.files.shell import ShellSyntaxError, lex, simple_commands


def words(text: str) -> list[list[tuple[str, str | None, str]]]:
    return [[(w.raw, w.value, w.prefix) for w in command] for command in simple_commands(lex(text))]


def test_positions_cover_each_word_exactly():
    text = "exec celery -A 'my proj' worker \"-l\" info\n"
    for command in simple_commands(lex(text)):
        for word in command:
            assert text[word.start:word.end] == word.raw


@pytest.mark.parametrize("text", ["a 'b c' \"d e\" f\\ g", "celery -A proj worker -l info", "x='1 2' y"])
def test_values_agree_with_shlex(text):
    assert [w.value for c in simple_commands(lex(text)) for w in c] == shlex.split(text)


def test_expansions_make_the_value_unknown_and_keep_the_literal_prefix():
    assert words("celery -Q$QUEUES -c${N:-2} --x=$(hostname) `date`") == [[
        ("celery", "celery", "celery"), ("-Q$QUEUES", None, "-Q"), ("-c${N:-2}", None, "-c"),
        ("--x=$(hostname)", None, "--x="), ("`date`", None, ""),
    ]]


def test_operators_split_commands_and_redirections_are_not_words():
    assert words("a b 2>&1 | c > out; d && e\nf") == [
        [("a", "a", "a"), ("b", "b", "b")], [("c", "c", "c")], [("d", "d", "d")], [("e", "e", "e")], [("f", "f", "f")],
    ]


def test_continuations_are_blanks_and_comments_are_skipped():
    assert words("celery \\\n  worker # celery beat\n") == [[("celery", "celery", "celery"), ("worker", "worker", "worker")]]


def test_here_document_bodies_are_not_commands():
    assert words("cat <<EOF > x\ncelery worker\nEOF\nls\n") == [[("cat", "cat", "cat")], [("ls", "ls", "ls")]]
    assert words("cat <<-'END'\n\tcelery worker\n\tEND\nls") == [[("cat", "cat", "cat")], [("ls", "ls", "ls")]]


@pytest.mark.parametrize("text", ["echo 'open", 'echo "open', "echo $(open", "echo `open"])
def test_unterminated_quotes_raise(text):
    with pytest.raises(ShellSyntaxError):
        lex(text)


def test_a_doubled_dollar_before_a_substitution_is_make_and_compose_escaping():
    # Make and compose write the shell's $(hostname) as $$(hostname): one word, not "$$" and a subshell.
    words = [w.raw for command in simple_commands(lex("celery -n w@$$(hostname) -E")) for w in command]
    assert words == ["celery", "-n", "w@$$(hostname)", "-E"]
