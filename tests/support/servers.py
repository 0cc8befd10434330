"""Owned by the core library work: FixtureAgentServer (replays recorded agent answers)
and BrokenServer (hangs, HTML 500, truncated JSON, ...). Placeholder until written."""
