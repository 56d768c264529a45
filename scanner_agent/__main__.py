"""``python -m scanner_agent``: the same as ``handoff agent``."""

from scanner_agent.cli import agent_app

agent_app(prog_name="handoff agent")
