"""`python -m spool_client.worker` in a process of its own, stopped with SIGTERM while a
handler runs."""

import os
import signal
import subprocess
import sys

from .support import PACKAGE_ROOT, Lines, ServerTestCase


class GracefulStopTests(ServerTestCase):
    def start_worker_process(self, *flags: str) -> "tuple[subprocess.Popen[str], Lines]":
        environment = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), PYTHONUNBUFFERED="1")
        environment.pop("SPOOL_ADMIN_TOKEN", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "spool_client.worker", "--handlers", "tests.blocking_handlers", "--url", self.server.url,
             "--queues", "py", "--concurrency", "1", "--wait", "0.5", *flags],
            cwd=str(PACKAGE_ROOT), env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )

        def kill() -> None:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

        self.addCleanup(kill)
        assert process.stdout is not None
        return process, Lines(process.stdout)

    def test_sigterm_lets_the_running_handler_finish_then_exits_0(self) -> None:
        process, output = self.start_worker_process("--grace", "20")
        running = self.client.enqueue("py.block", queue="py").id
        output.wait_for(r"started %s" % running, timeout=30)

        process.send_signal(signal.SIGTERM)
        output.wait_for(r"received SIGTERM: stopping gracefully", timeout=10)
        # Enqueued after the stop: the worker claims no more, so it stays available.
        waiting = self.client.enqueue("py.block", queue="py").id
        self.assertEqual(self.client.get(running).state, "running")
        assert process.stdin is not None
        process.stdin.write("done\n")
        process.stdin.flush()

        status = process.wait(timeout=30)
        text = output.rest(10)
        self.assertEqual(status, 0, text)
        self.assertIn("ran 1 jobs", text)
        self.assertNotIn("RuntimeWarning", text)
        job = self.client.get(running)
        self.assertEqual((job.state, job.result), ("succeeded", {"released": "done"}))
        self.assertEqual(self.client.get(waiting).state, "available")

    def test_a_handler_outliving_the_grace_is_left_to_its_lease(self) -> None:
        process, output = self.start_worker_process("--grace", "0.5", "--lease", "60")
        running = self.client.enqueue("py.block", queue="py").id
        output.wait_for(r"started %s" % running, timeout=30)

        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=30)
        text = output.rest(10)
        self.assertEqual(status, 0, text)
        self.assertIn("1 jobs still running after the grace period (%s)" % running, text)
        # Its outcome was never reported: the server runs it again once the lease expires.
        job = self.client.get(running)
        self.assertEqual((job.state, job.attempt), ("running", 1))
