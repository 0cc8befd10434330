"""pytest plugin (entry point ``pytest11``): fixtures for testing webhook receivers.

Filled in by the watch/wait work; kept importable and side-effect free at all times,
because pytest loads it in every session of every project that installs ngrok-inspect.
"""
