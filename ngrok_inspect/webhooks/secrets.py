"""Where a webhook secret comes from: ``--secret``, an environment variable or a file.

Errors name the variable or the file, never the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from ngrok_inspect.errors import UsageError


def read_secret(secret: str | None, env: str | None, file: str | None) -> str:
    """The one secret given (exactly one source); UsageError otherwise."""
    given = [s for s in (secret, env, file) if s is not None]
    if len(given) != 1:
        raise UsageError(
            "give the signing secret exactly once",
            hint="Use one of --secret S, --secret-env VAR, --secret-file FILE",
        )
    if secret is not None:
        value = secret
    elif env is not None:
        if env not in os.environ:
            raise UsageError(f"environment variable {env} is not set", hint=f"export {env}=…")
        value = os.environ[env]
    else:
        assert file is not None
        try:
            value = Path(file).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(
                f"cannot read the secret file {file} ({e.strerror or e})",
                hint="Check the path and its permissions",
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                f"the secret file {file} is not UTF-8 text", hint="Store the secret as text"
            ) from None
    value = value.strip()
    if not value:
        raise UsageError("the signing secret is empty", hint="Check where it comes from")
    return value
