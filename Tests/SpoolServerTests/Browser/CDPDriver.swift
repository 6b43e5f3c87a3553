/// The DevTools-protocol driver the browser test runs with `python3` (standard library only),
/// kept here as text because a `.py` file inside the test target would be an unhandled file
/// to SwiftPM. ``BrowserTests`` writes it to a temporary file.
enum CDPDriver {
    static let script = #"""
        #!/usr/bin/env python3
        """Drives headless Chromium through the DevTools protocol (standard library only).

        Starts Chromium with a throwaway profile and --remote-debugging-port=0, connects to its page
        over a WebSocket, and runs the steps given on the command line, in order:

          open:URL          navigate and wait for the load event
          expect:TEXT       the page's text (document.body.innerText) contains TEXT
          absent:TEXT       the page's text does not contain TEXT
          click:SELECTOR    click the element (a form's button, a link) and wait for the next load

        Prints one line per step, and "OK" at the end; any failure prints why (with the page's text)
        and exits 1. Every wait is bounded by --timeout (seconds, for the whole run), and Chromium is
        killed and its profile removed on the way out, whatever happened.

          cdp_drive.py --chromium /usr/bin/chromium --timeout 60 open:http://127.0.0.1:8080/ expect:Overview
        """
        import argparse
        import base64
        import json
        import os
        import shutil
        import signal
        import socket
        import struct
        import subprocess
        import sys
        import tempfile
        import time
        import urllib.request


        class Failure(Exception):
            pass


        class Deadline:
            def __init__(self, seconds):
                self.end = time.monotonic() + seconds

            def left(self, what):
                remaining = self.end - time.monotonic()
                if remaining <= 0:
                    raise Failure("timed out " + what)
                return remaining


        class WebSocket:
            """A minimal RFC 6455 client: text frames out (masked), text frames in."""

            def __init__(self, url, deadline):
                assert url.startswith("ws://"), url
                rest = url[len("ws://"):]
                hostport, _, path = rest.partition("/")
                host, _, port = hostport.partition(":")
                self.sock = socket.create_connection((host, int(port)), timeout=deadline.left("connecting to DevTools"))
                key = base64.b64encode(os.urandom(16)).decode()
                request = (
                    "GET /{} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).format(path, hostport, key)
                self.sock.sendall(request.encode())
                self.buffer = b""
                while b"\r\n\r\n" not in self.buffer:
                    self.sock.settimeout(deadline.left("in the WebSocket handshake"))
                    chunk = self.sock.recv(4096)
                    if not chunk:
                        raise Failure("DevTools closed the connection during the handshake")
                    self.buffer += chunk
                head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 101"):
                    raise Failure("DevTools refused the WebSocket: " + head.decode(errors="replace"))

            def send(self, text):
                payload = text.encode()
                header = bytes([0x81])
                if len(payload) < 126:
                    header += bytes([0x80 | len(payload)])
                elif len(payload) < 65536:
                    header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
                else:
                    header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
                mask = os.urandom(4)
                masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
                self.sock.sendall(header + mask + masked)

            def _read(self, count, deadline):
                while len(self.buffer) < count:
                    self.sock.settimeout(deadline.left("waiting for DevTools"))
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise Failure("DevTools closed the connection")
                    self.buffer += chunk
                data, self.buffer = self.buffer[:count], self.buffer[count:]
                return data

            def receive(self, deadline):
                message = b""
                while True:
                    first, second = self._read(2, deadline)
                    opcode, length = first & 0x0F, second & 0x7F
                    if length == 126:
                        length = struct.unpack(">H", self._read(2, deadline))[0]
                    elif length == 127:
                        length = struct.unpack(">Q", self._read(8, deadline))[0]
                    mask = self._read(4, deadline) if second & 0x80 else None
                    payload = self._read(length, deadline)
                    if mask:
                        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
                    if opcode == 0x8:
                        raise Failure("DevTools closed the WebSocket")
                    if opcode == 0x9:  # ping: answer, keep reading
                        continue
                    if opcode in (0x0, 0x1, 0x2):
                        message += payload
                        if first & 0x80:
                            return message.decode()


        class Page:
            """One page target of Chromium, spoken to in DevTools protocol messages."""

            def __init__(self, socket_, deadline):
                self.ws = socket_
                self.deadline = deadline
                self.next_id = 0
                self.events = []

            def call(self, method, **params):
                self.next_id += 1
                ident = self.next_id
                self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
                while True:
                    message = json.loads(self.ws.receive(self.deadline))
                    if message.get("id") == ident:
                        if "error" in message:
                            raise Failure("{} failed: {}".format(method, message["error"]))
                        return message.get("result", {})
                    if "method" in message:
                        self.events.append(message)

            def wait_for_load(self, what):
                while True:
                    for index, event in enumerate(self.events):
                        if event["method"] == "Page.loadEventFired":
                            del self.events[: index + 1]
                            return
                    self.events = []
                    message = json.loads(self.ws.receive(self.deadline))
                    if "method" in message:
                        self.events.append(message)
                    self.deadline.left("waiting for the page to load after " + what)

            def evaluate(self, expression):
                # The page may be between two documents (its self-refresh): try again for a moment.
                for attempt in range(20):
                    try:
                        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
                        break
                    except Failure:
                        if attempt == 19:
                            raise
                        self.deadline.left("evaluating in the page")
                        time.sleep(0.1)
                if "exceptionDetails" in result:
                    raise Failure("the page's script failed: {}".format(result["exceptionDetails"]))
                return result["result"].get("value")

            def text(self):
                return self.evaluate("document.body ? document.body.innerText : ''") or ""


        def start_chromium(binary, profile, deadline):
            arguments = [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir=" + profile, "about:blank",
            ]
            log = open(os.path.join(profile, "chromium.log"), "wb")
            process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            port_file = os.path.join(profile, "DevToolsActivePort")
            while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
                if process.poll() is not None:
                    raise Failure("chromium exited with status {} before DevTools listened".format(process.returncode))
                deadline.left("waiting for chromium's DevTools port")
                time.sleep(0.05)
            port = int(open(port_file).read().split()[0])
            return process, port


        def page_socket(port, deadline):
            while True:
                with urllib.request.urlopen("http://127.0.0.1:{}/json/list".format(port), timeout=deadline.left("listing targets")) as reply:
                    targets = json.load(reply)
                pages = [target for target in targets if target.get("type") == "page" and target.get("webSocketDebuggerUrl")]
                if pages:
                    return WebSocket(pages[0]["webSocketDebuggerUrl"], deadline)
                time.sleep(0.05)


        def run(steps, page):
            for step in steps:
                action, _, argument = step.partition(":")
                if action == "open":
                    page.events = []
                    result = page.call("Page.navigate", url=argument)
                    if result.get("errorText"):
                        raise Failure("opening {} failed: {}".format(argument, result["errorText"]))
                    page.wait_for_load("opening " + argument)
                elif action == "expect":
                    text = page.text()
                    if argument not in text:
                        raise Failure("the page does not show {!r}; it shows:\n{}".format(argument, text))
                elif action == "absent":
                    text = page.text()
                    if argument in text:
                        raise Failure("the page shows {!r}; it should not:\n{}".format(argument, text))
                elif action == "click":
                    page.events = []
                    found = page.evaluate(
                        "(function () { var e = document.querySelector(" + json.dumps(argument) + "); if (!e) return false; e.click(); return true; })()"
                    )
                    if not found:
                        raise Failure("no element matches {!r}; the page shows:\n{}".format(argument, page.text()))
                    page.wait_for_load("clicking " + argument)
                else:
                    raise Failure("unknown step " + step)
                print("{} {}: ok ({})".format(action, argument, page.evaluate("location.pathname + location.search")), flush=True)


        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--chromium", default="/usr/bin/chromium")
            parser.add_argument("--timeout", type=float, default=60)
            parser.add_argument("steps", nargs="+")
            options = parser.parse_args()
            deadline = Deadline(options.timeout)
            profile = tempfile.mkdtemp(prefix="spool-chromium-")
            process = None
            try:
                process, port = start_chromium(options.chromium, profile, deadline)
                page = Page(page_socket(port, deadline), deadline)
                page.call("Page.enable")
                page.call("Runtime.enable")
                run(options.steps, page)
                print("OK", flush=True)
                return 0
            except (Failure, OSError, ValueError) as error:
                print("FAILED: {}".format(error), flush=True)
                log = os.path.join(profile, "chromium.log")
                if os.path.exists(log):
                    lines = [line for line in open(log, errors="replace") if "dbus" not in line]
                    print("chromium's log (last lines):\n" + "".join(lines[-20:]), flush=True)
                return 1
            finally:
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait(timeout=5)
                shutil.rmtree(profile, ignore_errors=True)


        if __name__ == "__main__":
            sys.exit(main())
        """#
}
