"""django-tasks' `db_worker`, run so that a database that goes away for a while does not end the
worker: the loop raises on the first failed poll (OperationalError), and a worker that exits
then, and cannot start again until the database is back, would use up its restarts under
`serve`. Here it waits, with a growing pause, runs the worker's recovery (the work it held when
the database went away is queued again, as at a start) and polls again; any other error still
ends it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.core.management import call_command
from django.db import InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

PAUSES_S = (0.5, 1.0, 2.0, 4.0, 5.0)  # then 5 s a try, for as long as the database is away


def db_worker_run(*arguments: str, recover: Callable[[], object]) -> None:
    failures = 0
    while True:
        try:
            if failures:
                recover()
            call_command("db_worker", *arguments)
            return
        except (OperationalError, InterfaceError) as error:
            pause = PAUSES_S[min(failures, len(PAUSES_S) - 1)]
            failures += 1
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            logger.warning("the database is unreachable (%s); polling again in %g s",
                           first_line[:200], pause)  # fmt: skip
            connections.close_all()  # a broken connection is not reused
            time.sleep(pause)
