"""Run Daphne with the open-file limit raised, so one process can hold thousands of sockets.

`python -m bench.serve <daphne arguments>`: the same arguments as the `daphne` command.
"""

from __future__ import annotations

import resource
import sys


def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(sys.argv[1:])


if __name__ == "__main__":
    main()
