import typer
import uvicorn
from typer.testing import CliRunner

from service.simulator import cli


def test_simulator_command_registers_with_typer(monkeypatch) -> None:
    started = {}

    def fake_run(app, **kwargs) -> None:
        started.update(kwargs, state=app.state)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    app = typer.Typer()
    app.command("simulator")(cli.simulator)
    app.command("noop")(lambda: None)

    result = CliRunner().invoke(
        app,
        [
            "simulator",
            "--port",
            "9911",
            "--github-issues",
            "12",
            "--jira-issues",
            "9",
            "--seed",
            "3",
        ],
    )

    assert result.exit_code == 0, result.output
    assert started["port"] == 9911
    config = started["state"].config
    assert (config.seed, config.github_issues, config.jira_issues) == (3, 12, 9)
    assert sum(len(r.issues) for r in started["state"].github.repos) == 12
