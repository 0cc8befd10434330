"""ngrok-inspect: look at, replay and assert on HTTP traffic captured by an ngrok agent."""

from __future__ import annotations

__version__ = "0.1.0"
