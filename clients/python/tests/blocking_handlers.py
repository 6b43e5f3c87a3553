"""Handlers for the worker process the SIGTERM tests start (`--handlers tests.blocking_handlers`).

`py.block` says it started on standard output, then runs until the test writes a line to the
process's standard input: the test decides when the job's work is done.
"""

import sys
from typing import Dict

from spool_client import Handlers, Job

handlers = Handlers()


@handlers.handler("py.block")
def block(job: Job) -> Dict[str, str]:
    print("started %s" % job.id, flush=True)
    line = sys.stdin.readline()
    return {"released": line.strip()}
