"""The README stays true: its scenario reference is the schema, its quick start is CI's command."""
from pathlib import Path

from sim.schema import reference_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_scenario_reference_matches_schema():
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- scenario-reference:start -->") + len("<!-- scenario-reference:start -->")
    end = text.index("<!-- scenario-reference:end -->")
    assert text[start:end].strip() == reference_markdown().strip(), (
        "README scenario reference is stale: regenerate it from sim.schema.reference_markdown()")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -e '.[test]' && pytest"
    assert command in readme and command in ci
    assert "pip install -e . && fleetsim run" in readme
