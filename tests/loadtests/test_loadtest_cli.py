"""`busysignal loadtest` refuses bad input before starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.cli import main
from mockserver.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "5"], "give --strategy X or --compare X,Y,Z"),
        (["--strategy", "retry-harder", "--rate", "5"], "unknown strategy 'retry-harder'"),
        (["--compare", "no-retry,nope", "--rate", "5"], "unknown strategy 'nope'"),
        (["--strategy", "no-retry"], "give --rate R (open loop) or --users U"),
        (["--strategy", "no-retry", "--rate", "5", "--shape", "tsunami"], "unknown load shape 'tsunami'"),
        (["--strategy", "raw", "--rate", "5"], "closed-loop only"),
        (["--headline", "--time-scale", "9"], "time_scale must be in (0, 3]"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_window_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--strategy", "no-retry", "--rate", "5", "--trigger", "20:10"])
    assert "expected START:END" in capsys.readouterr().err


def test_the_command_is_registered_under_busysignal() -> None:
    args = build_parser().parse_args(["loadtest", "--strategy", "no-retry", "--rate", "3", "--workers", "2"])
    assert args.command == "loadtest" and args.workers == 2 and callable(args.func)


def test_the_runner_report_and_cli_never_import_locust_or_gevent() -> None:
    import subprocess
    import sys

    code = (
        "import sys, loadtests.cli, loadtests.headline, loadtests.experiment, loadtests.runner, "
        "loadtests.report, loadtests.render, loadtests.strategies, loadtests.config, loadtests.shapes\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", ["file", "full folder", "under a file"])
def test_an_out_that_would_overwrite_something_is_refused_before_anything_runs(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    out = {"file": mine, "full folder": tmp_path, "under a file": mine / "report"}[kind]
    assert main(["--strategy", "no-retry", "--rate", "5", "--duration", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"busysignal loadtest: --out {out}" in err
    assert "Traceback" not in err
    assert mine.read_text() == "my notes\n"  # nothing lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing written
