"""``python -m devstack run``: the local stack in the foreground (``make run``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from chalicelib.private_ca import CAError
from devstack.dynalite import DynaliteError
from devstack.stack import StackError, StackOptions, run


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the stack and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run certmint locally: dynalite, the private CA, the API "
        "and the console over HTTPS. Ports and paths come from API_PORT, "
        "CONSOLE_PORT, DYNAMO_PORT and CERTMINT_HOME.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the stack; Ctrl-C or SIGTERM stops it")
    parser.parse_args(argv)

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # boto3 and urllib3 log credential discovery and connection details at
    # INFO; the access log is what an operator of the stack wants to see.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    try:
        return run(StackOptions.from_environment(os.environ))
    except (StackError, DynaliteError, CAError) as error:
        print(f"devstack: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
