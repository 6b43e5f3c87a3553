"""Worker against a live `spool serve`: heartbeats, retries, dead jobs, concurrency."""

import os
import threading
import unittest
from typing import Any, Dict, List
from unittest import mock

from spool_client import Client, Handlers, Job, PermanentError, RetryError, SpoolError, Worker

from .support import ServerTestCase, SpoolServer, rfc3339

QUEUE = "py"


class WorkerTests(ServerTestCase):
    def worker(self, handlers: Handlers, **options: Any) -> Worker:
        settings: Dict[str, Any] = {"queues": [QUEUE], "wait_s": 0.5, "grace_s": 10.0}
        settings.update(options)
        return Worker(handlers, client=self.client, **settings)

    def test_heartbeats_keep_the_lease_of_a_handler_slower_than_it(self) -> None:
        handlers = Handlers()
        seen: List[Job] = []

        @handlers.handler("py.slow")
        def slow(job: Job) -> Dict[str, Any]:
            # Runs until the stored lease has been extended well past the one the claim gave
            # (heartbeats every third of the 1 s lease), so the handler outlives its first lease.
            seen.append(job)
            assert job.lease_expires_at is not None
            first = rfc3339(job.lease_expires_at)

            def extended() -> Any:
                stored = self.client.get(job.id).raw.get("lease_expires_at")
                return stored if stored and (rfc3339(stored) - first).total_seconds() > 1.0 else None

            return {"extended_to": self.poll("the lease extended past its first expiry by 1 s", extended, timeout=20)}

        worker = self.worker(handlers, lease_s=1.0)
        self.start_worker(worker)
        enqueued = self.client.enqueue("py.slow", {"n": 1}, queue=QUEUE, max_attempts=1)
        job = self.client.wait(enqueued.id, timeout=30)
        self.assertEqual((job.state, job.attempt), ("succeeded", 1), job.errors)
        self.assertIn("extended_to", job.result)
        self.assertEqual(len(seen), 1)
        self.assertFalse(seen[0].lost)
        self.assertEqual(worker.stats["lost"], 0)

    def test_a_failure_is_retried_then_succeeds(self) -> None:
        handlers = Handlers()

        @handlers.handler("py.flaky")
        def flaky(job: Job) -> Dict[str, int]:
            if job.attempt == 1:
                raise RuntimeError("first attempt fails")
            return {"attempt": job.attempt}

        @handlers.handler("py.soon")
        def soon(job: Job) -> Dict[str, int]:
            if job.attempt < 3:
                raise RetryError("not yet", retry_in_s=0)
            return {"attempt": job.attempt}

        self.start_worker(self.worker(handlers, concurrency=2))
        flaky_id = self.client.enqueue("py.flaky", queue=QUEUE, max_attempts=3).id
        soon_id = self.client.enqueue("py.soon", queue=QUEUE, max_attempts=3).id
        # The first retry waits the server's backoff (1 s ± 10 %).
        job = self.client.wait(flaky_id, timeout=30)
        self.assertEqual((job.state, job.attempt, job.result), ("succeeded", 2, {"attempt": 2}))
        self.assertEqual([error["message"] for error in job.errors], ["RuntimeError: first attempt fails"])
        job = self.client.wait(soon_id, timeout=30)
        self.assertEqual((job.state, job.attempt), ("succeeded", 3))
        self.assertEqual([error["message"] for error in job.errors], ["not yet", "not yet"])

    def test_a_permanent_error_or_an_unknown_kind_is_dead_at_once(self) -> None:
        handlers = Handlers()

        @handlers.handler("py.bad")
        def bad(job: Job) -> None:
            raise PermanentError("bad input: %s" % job.payload["why"])

        self.start_worker(self.worker(handlers))
        bad_id = self.client.enqueue("py.bad", {"why": "no address"}, queue=QUEUE, max_attempts=5).id
        unknown_id = self.client.enqueue("py.unknown", queue=QUEUE, max_attempts=5).id
        job = self.client.wait(bad_id, timeout=30)
        self.assertEqual((job.state, job.attempt), ("dead", 1))
        self.assertEqual((job.errors[0]["message"], job.errors[0]["reason"]), ("bad input: no address", "permanent"))
        job = self.client.wait(unknown_id, timeout=30)
        self.assertEqual((job.state, job.attempt), ("dead", 1))
        self.assertIn("no handler for kind 'py.unknown'", job.last_error or "")

    def test_handlers_run_side_by_side_up_to_the_concurrency(self) -> None:
        handlers = Handlers()
        together = threading.Barrier(3, timeout=20)

        @handlers.handler("py.together")
        def meet(job: Job) -> int:
            return together.wait()  # passes only when three handlers run at once

        worker = self.worker(handlers, concurrency=3)
        self.start_worker(worker)
        ids = [answer.id for answer in self.client.enqueue_many([{"kind": "py.together", "queue": QUEUE}] * 3)]
        states = [self.client.wait(job_id, timeout=30).state for job_id in ids]
        self.assertEqual(states, ["succeeded"] * 3)

    def test_run_returns_after_max_jobs(self) -> None:
        handlers = Handlers()
        handlers["py.one"] = lambda job: job.payload
        self.client.enqueue_many([{"kind": "py.one", "queue": QUEUE, "payload": i} for i in range(3)])
        worker = self.worker(handlers, concurrency=2)
        ran: List[int] = []
        thread = threading.Thread(target=lambda: ran.append(worker.run(max_jobs=3, handle_signals=False)), daemon=True)
        thread.start()
        thread.join(timeout=30)
        self.assertFalse(thread.is_alive(), "run() did not return after 3 jobs")
        self.assertEqual(ran, [3])
        self.assertEqual(worker.stats["succeeded"], 3)


class TokenTests(unittest.TestCase):
    def test_the_token_comes_from_the_argument_or_the_environment_and_a_refusal_stops_the_worker(self) -> None:
        server = SpoolServer(admin_token="s3cret")
        self.addCleanup(server.stop)
        with self.assertRaises(SpoolError) as caught:
            Client(server.url, token="").enqueue("py.token")
        self.assertEqual(caught.exception.status, 401)
        self.assertEqual(Client(server.url, token="s3cret").enqueue("py.token", queue=QUEUE).state, "available")
        with mock.patch.dict(os.environ, {"SPOOL_ADMIN_TOKEN": "s3cret"}):
            self.assertEqual(Client(server.url).token, "s3cret")
            self.assertEqual(Client(server.url).enqueue("py.token", queue=QUEUE).state, "available")

        worker = Worker({}, client=Client(server.url, token="wrong"), queues=[QUEUE], wait_s=0.5)
        with self.assertRaises(SpoolError) as caught:
            worker.run(handle_signals=False)  # refused at once: a bad token is not retried
        self.assertEqual(caught.exception.status, 401)
