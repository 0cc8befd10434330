"""Turning models into output: rich renderables for terminals, plain text for pipes, JSON.

Nothing here talks to an agent. rich is imported lazily, inside the functions that build
renderables, so ``--json`` never loads it.
"""
