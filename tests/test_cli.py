"""The console command as a user meets it: help with examples, clean one-line errors."""

import re

from tests.conftest import run_cli


def _commands(help_text: str) -> list[str]:
    block = help_text.split("Commands")[1]
    return re.findall(r"│ (\w[\w-]*)\s", block)


def test_help_lists_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for name in ("serve", "models", "bench"):
        assert name in out.stdout


def test_every_command_has_help_with_an_example() -> None:
    groups = {"": _commands(run_cli("--help").stdout)}
    leaves: list[list[str]] = []
    for cmd in groups[""]:
        sub = run_cli(cmd, "--help").stdout
        if "Commands" in sub:
            leaves += [[cmd, leaf] for leaf in _commands(sub)]
        else:
            leaves.append([cmd])
    assert len(leaves) >= 3
    for argv in leaves:
        out = run_cli(*argv, "--help")
        assert out.returncode == 0, argv
        assert "Example: jishibang " + " ".join(argv) in out.stdout, argv


def test_unknown_command_is_one_clean_line_and_exit_1() -> None:
    out = run_cli("no-such-command")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_library_error_is_one_clean_line(tmp_path) -> None:
    # A model dir that cannot be created: a file stands where the directory should be.
    blocker = tmp_path / "models"
    blocker.write_text("not a directory")
    out = run_cli("models", "build", env={"JISHIBANG_MODEL_DIR": str(blocker / "sub")})
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ")
    assert len(out.stderr.strip().splitlines()) == 1


def test_an_eval_limited_to_a_set_no_longer_blind_fails_at_once() -> None:
    """`eval answers --set` / `eval urgency --crisis-set`: a retired (training) set is refused before any model loads,
    naming the sets still blind, so a later blind set can stay unrun."""
    from models.retired_sets import RETIRED_ANSWER_SETS, RETIRED_CRISIS_SETS

    for argv in (("eval", "answers", "--set", RETIRED_ANSWER_SETS[-1]),
                 ("eval", "urgency", "--crisis-set", RETIRED_CRISIS_SETS[-1]),
                 ("eval", "urgency", "--triage-set", "blind999")):
        out = run_cli(*argv)
        assert out.returncode == 1, argv
        assert "still blind" in out.stderr and "Traceback" not in out.stderr, argv
