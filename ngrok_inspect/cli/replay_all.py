"""``replay --all``: the shared filters that do not clash with replay's edit options."""

from __future__ import annotations

from ngrok_inspect.cli.options import build_filter
from ngrok_inspect.cli.replay_edit import EditArgs, run_all


def replay_all_command(
    args: EditArgs,
    *,
    tunnel: str | None,
    no_wait: bool,
    as_json: bool,
    where: str | None,
    status: list[str] | None,
    since: str | None,
    errors: bool,
    delay: float,
    fail_fast: bool,
    expect_status: str | None,
    db: str | None = None,
) -> None:
    # --tunnel, --method and --path are replay's own options (edits); select by them
    # with --where (method == "POST" and path ~ "/hooks/*").
    flt = build_filter(tunnel=tunnel, where=where, status=status, since=since, errors=errors)
    run_all(
        flt, args, tunnel=tunnel, no_wait=no_wait, as_json=as_json, delay=delay,
        fail_fast=fail_fast, expect_status=expect_status, db=db,
    )  # fmt: skip
