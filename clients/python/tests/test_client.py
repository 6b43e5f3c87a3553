"""Client against a live `spool serve`: enqueue, enqueue many, get, wait, errors; and the
headers and body it sends, seen by a stub server."""

import datetime
import http.server
import json
import threading
import unittest
from typing import Any, Dict, List

from spool_client import Client, JobSpec, QueueFullError, SpoolError, WaitTimeout

from .support import ServerTestCase, rfc3339

UNSERVED = "py-unserved"  # no worker serves it: its jobs stay where enqueue puts them


class ClientTests(ServerTestCase):
    def test_enqueue_then_wait_for_the_result(self) -> None:
        # The server's own worker serves `default` and knows spool.echo: its result is its payload.
        enqueued = self.client.enqueue("spool.echo", {"hello": "world", "n": [1, 2]})
        self.assertEqual(enqueued.state, "available")
        job = self.client.wait(enqueued.id, timeout=30)
        self.assertEqual(job.state, "succeeded")
        self.assertTrue(job.finished)
        self.assertEqual(job.result, {"hello": "world", "n": [1, 2]})
        self.assertEqual((job.id, job.kind, job.queue, job.attempt), (enqueued.id, "spool.echo", "default", 1))

    def test_enqueue_sends_every_option(self) -> None:
        later = self.client.enqueue(
            "py.later", {"x": 1}, queue=UNSERVED, priority=5, delay=datetime.timedelta(hours=1), unique_key="later-1",
            max_attempts=3, timeout=2.5,
        )
        self.assertEqual(later.state, "scheduled")
        job = self.client.get(later.id)
        self.assertEqual((job.kind, job.queue, job.priority, job.max_attempts), ("py.later", UNSERVED, 5, 3))
        self.assertEqual((job.unique_key, job.timeout_s, job.payload), ("later-1", 2.5, {"x": 1}))
        assert job.run_at is not None and job.created_at is not None
        self.assertGreater(rfc3339(job.run_at) - rfc3339(job.created_at), datetime.timedelta(minutes=59))

        run_at = datetime.datetime(2099, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        at = self.client.enqueue("py.later", queue=UNSERVED, run_at=run_at)
        stored = self.client.get(at.id).run_at
        assert stored is not None
        self.assertLessEqual(abs(rfc3339(stored) - run_at), datetime.timedelta(milliseconds=1), stored)
        with self.assertRaisesRegex(ValueError, "aware"):
            self.client.enqueue("py.later", run_at=datetime.datetime(2099, 1, 1))
        with self.assertRaisesRegex(ValueError, "not both"):
            self.client.enqueue("py.later", run_at=run_at, delay=1)

    def test_a_unique_key_held_by_a_live_job_is_a_conflict(self) -> None:
        first = self.client.enqueue("py.once", queue=UNSERVED, unique_key="only-one")
        with self.assertRaises(SpoolError) as caught:
            self.client.enqueue("py.once", queue=UNSERVED, unique_key="only-one")
        self.assertEqual((caught.exception.status, caught.exception.slug), (409, "unique-key-conflict"))
        self.assertEqual(caught.exception.problem.get("id"), first.id)

    def test_enqueue_many(self) -> None:
        held = self.client.enqueue("py.many", queue=UNSERVED, unique_key="held")
        answers = self.client.enqueue_many([
            JobSpec("py.many", {"i": 0}, queue=UNSERVED),
            {"kind": "py.many", "payload": {"i": 1}, "queue": UNSERVED, "priority": 3},
            JobSpec("py.many", queue=UNSERVED, unique_key="held"),
            JobSpec("spool.echo", {"i": 3}),
        ])
        self.assertEqual([answer.existing for answer in answers], [False, False, True, False])
        self.assertEqual(answers[2].id, held.id)
        self.assertEqual(len({answer.id for answer in answers}), 4)
        self.assertEqual(self.client.get(answers[1].id).priority, 3)
        self.assertEqual(self.client.wait(answers[3].id, timeout=30).result, {"i": 3})

        with self.assertRaises(SpoolError) as caught:
            self.client.enqueue_many([JobSpec("py.many"), JobSpec("py.many", priority=99_999)])
        self.assertEqual((caught.exception.status, caught.exception.slug), (400, "invalid-field"))
        self.assertEqual(caught.exception.problem.get("field"), "jobs[1].priority")
        self.assertIn("jobs[1].priority", str(caught.exception))
        with self.assertRaises(ValueError):
            self.client.enqueue_many([])

    def test_problems_are_typed_errors(self) -> None:
        with self.assertRaises(SpoolError) as caught:
            self.client.get("01M97CH5KPJV02P9BP6MD2CX7K")
        error = caught.exception
        self.assertEqual((error.status, error.slug, error.type), (404, "job-not-found", "urn:spool:problem:job-not-found"))
        self.assertTrue(error.title)
        self.assertIn("01M97CH5KPJV02P9BP6MD2CX7K", error.detail)
        self.assertIsNone(error.retry_after)
        with self.assertRaises(SpoolError) as caught:
            self.client.enqueue("py.bad", queue=UNSERVED, max_attempts=0)
        self.assertEqual((caught.exception.status, caught.exception.problem.get("field")), (400, "max_attempts"))

    def test_wait_gives_up_at_its_deadline(self) -> None:
        enqueued = self.client.enqueue("py.never", queue=UNSERVED)
        with self.assertRaises(WaitTimeout) as caught:
            self.client.wait(enqueued.id, timeout=0.3)
        self.assertEqual(caught.exception.job.state, "available")
        self.assertIsInstance(caught.exception, TimeoutError)

    def test_cancel_and_retry(self) -> None:
        enqueued = self.client.enqueue("py.cancel", queue=UNSERVED)
        self.assertEqual(self.client.cancel(enqueued.id).state, "cancelled")
        self.assertEqual(self.client.wait(enqueued.id, timeout=5).state, "cancelled")
        self.assertEqual(self.client.retry(enqueued.id).state, "available")
        with self.assertRaises(SpoolError) as caught:
            self.client.retry(enqueued.id)
        self.assertEqual(caught.exception.status, 409)

    def test_a_full_queue_is_a_queue_full_error_with_retry_after(self) -> None:
        # The memory store holds 10,000 jobs per queue: fill one in ten batches.
        for batch in range(10):
            self.client.enqueue_many([JobSpec("py.fill", queue="py-full")] * 1000)
        with self.assertRaises(QueueFullError) as caught:
            self.client.enqueue("py.fill", queue="py-full")
        error = caught.exception
        self.assertEqual((error.status, error.slug), (503, "queue-full"))
        assert error.retry_after is not None
        self.assertGreater(error.retry_after, 0)
        with self.assertRaises(QueueFullError) as caught:
            self.client.enqueue_many([JobSpec("py.fill", queue=UNSERVED), JobSpec("py.fill", queue="py-full")])
        # `stored` names the jobs stored before the full queue (the memory store stores none).
        self.assertIn("stored", caught.exception.problem)
        self.assertNotIn(1, [entry.get("index") for entry in caught.exception.stored])


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every POST like an enqueue and records what it got."""

    requests: List[Dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        answer: Dict[str, Any] = {"jobs": [{"id": "J%d" % i, "state": "available", "existing": False} for i, _ in enumerate(body.get("jobs", []))]}
        answer.update({"id": "J", "state": "available"})
        data = json.dumps(answer).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class RequestShapeTests(unittest.TestCase):
    """What the client puts on the wire, seen by a stub server on loopback."""

    def setUp(self) -> None:
        Recorder.requests = []
        self.stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        thread = threading.Thread(target=self.stub.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.stub.server_close)
        self.addCleanup(self.stub.shutdown)
        self.client = Client("http://127.0.0.1:%d/" % self.stub.server_address[1], token="t0k")

    def test_trace_context_travels_as_headers_and_metadata_only_when_given(self) -> None:
        parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        self.client.enqueue("k", {"a": 1}, traceparent=parent, tracestate="vendor=x")
        self.client.enqueue("k", metadata={"tenant": "acme"})
        self.client.enqueue_many([JobSpec("k"), JobSpec("k", delay=2)], traceparent=parent)
        first, second, batch = Recorder.requests
        headers = {key.lower(): value for key, value in first["headers"].items()}
        self.assertEqual((headers["traceparent"], headers["tracestate"]), (parent, "vendor=x"))
        self.assertEqual(headers["authorization"], "Bearer t0k")
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(first["body"], {"kind": "k", "payload": {"a": 1}})
        self.assertNotIn("traceparent", {key.lower() for key in second["headers"]})
        self.assertEqual(second["body"], {"kind": "k", "metadata": {"tenant": "acme"}})
        self.assertEqual(batch["path"], "/v1/jobs/batch")
        self.assertEqual({key.lower(): value for key, value in batch["headers"].items()}["traceparent"], parent)
        self.assertEqual(batch["body"], {"jobs": [{"kind": "k"}, {"kind": "k", "delay_s": 2.0}]})

    def test_a_bad_trace_context_is_refused_before_sending(self) -> None:
        with self.assertRaisesRegex(ValueError, "traceparent"):
            self.client.enqueue("k", traceparent="00-zz")
        with self.assertRaisesRegex(ValueError, "tracestate needs a traceparent"):
            self.client.enqueue_many([JobSpec("k")], tracestate="a=b")
        self.assertEqual(Recorder.requests, [])


if __name__ == "__main__":
    unittest.main()


class WorkflowTests(ServerTestCase):
    """Batches and dependencies, on the test server's memory store (which keeps them)."""

    def finish_all(self, queue: str) -> List[str]:
        """Claims every job of `queue` over the worker protocol and reports it succeeded."""
        claimed = self.client.request("POST", "/v1/worker/claim", {"worker": "py-test", "queues": [queue], "limit": 50})
        ids = [str(job["id"]) for job in claimed["jobs"]]
        if ids:
            results = [{"id": job_id, "status": "succeeded"} for job_id in ids]
            self.client.request("POST", "/v1/worker/finish", {"worker": "py-test", "results": results})
        return ids

    def test_a_batch_fires_its_success_callback_once(self) -> None:
        batch_id, jobs = self.client.create_batch(
            [JobSpec("py.row", {"line": 1}, queue="py-rows"), {"kind": "py.row", "payload": {"line": 2}, "queue": "py-rows"}],
            on_success=JobSpec("py.report", queue="py-reports"), on_dead={"kind": "py.alarm", "queue": "py-reports"},
        )
        self.assertEqual([job.state for job in jobs], ["available", "available"])
        info = self.client.batch(batch_id)
        self.assertEqual((info.state, info.total, info.counts["available"]), ("running", 2, 2))
        self.assertEqual(info.callbacks, {"on_success": None, "on_dead": None})
        self.assertEqual(sorted(self.finish_all("py-rows")), sorted(job.id for job in jobs))
        done = self.client.wait_batch(batch_id, timeout=30)
        self.assertEqual((done.state, done.counts["succeeded"]), ("succeeded", 2))
        report = done.callbacks["on_success"]
        assert report is not None
        self.assertEqual(self.finish_all("py-reports"), [report], "one callback, once")
        self.assertEqual(self.client.get(report).metadata["spool.batch"], batch_id)
        with self.assertRaisesRegex(ValueError, "at least one"):
            self.client.create_batch([])

    def test_a_dependent_job_waits_pending_and_cancel_batch(self) -> None:
        first = self.client.enqueue("py.step", queue="py-steps")
        second = self.client.enqueue("py.step", queue="py-steps", depends_on=[first.id], on_dependency_failure="run")
        self.assertEqual(second.state, "pending")
        self.assertEqual(self.client.get(second.id).raw["depends_on"], [first.id])
        self.assertEqual(self.finish_all("py-steps"), [first.id])
        self.assertEqual(self.finish_all("py-steps"), [second.id])
        with self.assertRaises(SpoolError) as caught:
            self.client.enqueue_many([JobSpec("py.step", depends_on=["01M97J0GEQ1311JPFXDPEX6S6J"])])
        self.assertEqual(caught.exception.status, 422)
        with self.assertRaisesRegex(ValueError, "cancel' or 'run"):
            JobSpec("py.step", on_dependency_failure="maybe").to_json()

        batch_id, jobs = self.client.create_batch([JobSpec("py.slow", queue=UNSERVED), JobSpec("py.slow", queue=UNSERVED)])
        self.assertEqual(sorted(self.client.cancel_batch(batch_id)), sorted(job.id for job in jobs))
        self.assertEqual(self.client.batch(batch_id).state, "cancelled")
