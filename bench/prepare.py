"""`python -m bench.prepare SPEC_JSON`, with a server's environment: migrate, create the bench data, print it.

The output is one JSON line: thread ids and session keys (see `bench.fixtures.bench_data_create`).
"""

from __future__ import annotations

import json
import sys

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from bench.fixtures import bench_data_create

    call_command("migrate", verbosity=0, interactive=False)
    print(json.dumps(bench_data_create(json.loads(sys.argv[1]))), flush=True)


if __name__ == "__main__":
    main()
