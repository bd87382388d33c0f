"""The README's table of `ltfu report` options states ltfu.defaults, and the command line uses them."""

import re
from pathlib import Path

import typer.main

from ltfu import defaults
from ltfu.analysis import AnalysisOptions
from ltfu.cli import app

README = (Path(__file__).parents[1] / "README.md").read_text()


def _readme_options() -> dict:
    """option -> default cell of the README's `ltfu report` options table."""
    section = README.split("### `ltfu report` options and defaults", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(--[a-z-]+)[^`]*` \| ([^|]+) \|", section, flags=re.M)
    return {name: cell.replace("`", "").strip() for name, cell in rows}


def test_every_user_default_is_in_the_readme_with_its_value():
    table = _readme_options()
    for name, value, _ in defaults.USER_DEFAULTS:
        assert name in table, name
        assert table[name] == value, (name, table[name], value)


def test_the_report_command_uses_the_defaults():
    command = typer.main.get_command(app).commands["report"]
    params = {p.name: p.default for p in command.params}
    assert params["burden_threshold"] == defaults.BURDEN_THRESHOLD
    assert params["landmark_days"] == defaults.LANDMARK_DAYS
    assert params["formats"] == ",".join(defaults.REPORT_FORMATS)
    for name, want in (("efs_nonresponder", defaults.EFS_NONRESPONDER), ("conf_type", defaults.KM_CONF_TYPE),
                       ("safety_stop_at", defaults.SAFETY_STOP_AT)):
        got = params[name]
        assert getattr(got, "value", got) == want, name
    assert params["out"] == defaults.REPORT_DIR


def test_analysis_options_use_the_defaults():
    o = AnalysisOptions()
    assert (o.efs_nonresponder, o.conf_type, o.conf_level, o.ties, o.landmark_days, o.rate_months,
            o.safety_stop_at) == (defaults.EFS_NONRESPONDER, defaults.KM_CONF_TYPE, defaults.CONF_LEVEL,
                                  defaults.COX_TIES, defaults.LANDMARK_DAYS, defaults.RATE_MONTHS,
                                  defaults.SAFETY_STOP_AT)


def test_cli_engine_choices_are_the_defaults_list():
    from ltfu import defaults
    from ltfu.cli import Engine

    assert tuple(e.value for e in Engine) == defaults.ENGINES
    assert defaults.ENGINE in defaults.ENGINES
