"""Local simulator of the GitHub and Jira Cloud upstreams (see README.md beside this file).

It is an independent oracle for the connectors, so it imports nothing from `connectors/` and
never touches the database.
"""

from service.simulator.app import create_app
from service.simulator.config import SimulatorConfig
from service.simulator.server import run_in_thread, running_simulator

__all__ = ["SimulatorConfig", "create_app", "run_in_thread", "running_simulator"]
