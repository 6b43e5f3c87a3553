"""The Redis ceiling (see run.py): two Lua scripts run with EVALSHA, over a minimal RESP client.

Keys, under a throwaway prefix `ceiling:PID:` in the URL's database, all deleted afterwards:

    PREFIX:j:ID     a hash per job: state (available | running | done), payload (`{}`)
    PREFIX:ready    a sorted set of the ids of due jobs, scored by id (the claim order)
    PREFIX:running  a set of the ids of running jobs

claim(BATCH): ZPOPMIN takes up to BATCH ids from `ready`; each job's hash gets state running
(HSET) and gives its payload (HGET); the ids join `running` (SADD, variadic). It returns id,
payload pairs. finish(ids): each hash gets state done (HSET); the ids leave `running` (SREM,
variadic; the script returns how many did, which must be all of them). Each script is atomic,
and as durable as the server makes a write (scripts/redis: appendfsync everysec, as for Spool).

The client speaks RESP2 on a blocking socket (TCP_NODELAY; a blocked recv releases the
interpreter lock, so loops on threads overlap): no redis-py, nothing to install.
"""

import os
import socket
import urllib.parse

from run import PAYLOAD, threaded

ENQUEUE = """
local first, n = tonumber(ARGV[2]), tonumber(ARGV[3])
for id = first, first + n - 1 do
  local s = tostring(id)
  redis.call('HSET', ARGV[1] .. s, 'state', 'available', 'payload', ARGV[4])
  redis.call('ZADD', KEYS[1], id, s)
end
return n
"""

CLAIM = """
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[2])
local out, ids = {}, {}
for i = 1, #popped, 2 do
  local id = popped[i]
  local k = ARGV[1] .. id
  redis.call('HSET', k, 'state', 'running')
  ids[#ids + 1] = id
  out[#out + 1] = tonumber(id)
  out[#out + 1] = redis.call('HGET', k, 'payload')
end
for i = 1, #ids, 1000 do
  redis.call('SADD', KEYS[2], unpack(ids, i, math.min(i + 999, #ids)))
end
return out
"""

FINISH = """
for i = 2, #ARGV do
  redis.call('HSET', ARGV[1] .. ARGV[i], 'state', 'done')
end
local removed = 0
for i = 2, #ARGV, 1000 do
  removed = removed + redis.call('SREM', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return removed
"""


class RedisError(Exception):
    pass


class Redis:
    """One connection: call() sends a command and reads its reply (RESP2)."""

    def __init__(self, url, timeout_s=30):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError(f"not a redis:// URL: {url}")
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb", buffering=1 << 16)
        if parts.password is not None:
            user = [urllib.parse.unquote(parts.username)] if parts.username else []
            self.call("AUTH", *user, urllib.parse.unquote(parts.password))
        if parts.path.strip("/"):
            self.call("SELECT", parts.path.strip("/"))

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    def call(self, *args):
        self.sock.sendall(self.encode(args))
        return self.read()

    def read(self):
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("the Redis server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.reader.read(size + 2)[:-2]
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.read() for _ in range(size)]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")

    def close(self):
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


class Loop:
    """One claim→finish loop on a connection of its own."""

    def __init__(self, url, prefix, shas, batch):
        self.redis = Redis(url)
        self.prefix = prefix
        self.claim_sha, self.finish_sha = shas
        self.batch = batch

    def claim(self):
        reply = self.redis.call("EVALSHA", self.claim_sha, 2, self.prefix + "ready", self.prefix + "running",
                                self.prefix + "j:", self.batch)
        return reply[0::2], reply[1::2]

    def finish(self, ids):
        removed = self.redis.call("EVALSHA", self.finish_sha, 1, self.prefix + "running", self.prefix + "j:", *ids)
        if removed != len(ids):
            raise RuntimeError(f"finish moved {removed} of {len(ids)} jobs out of running")

    def close(self):
        self.redis.close()


def run(url, jobs, batch, loops, limit):
    prefix = f"ceiling:{os.getpid()}:"
    admin = Redis(url)
    try:
        if admin.call("EXISTS", prefix + "ready", prefix + "running"):
            raise RuntimeError(f"keys under {prefix} exist already")
        enqueue_sha, claim_sha, finish_sha = (admin.call("SCRIPT", "LOAD", s).decode() for s in (ENQUEUE, CLAIM, FINISH))
        for first in range(0, jobs, 1_000):
            admin.call("EVALSHA", enqueue_sha, 1, prefix + "ready", prefix + "j:", first, min(1_000, jobs - first), PAYLOAD)
        return threaded(loops, lambda: Loop(url, prefix, (claim_sha, finish_sha), batch), limit)
    finally:
        try:
            admin.call("DEL", prefix + "ready", prefix + "running")
            for first in range(0, jobs, 1_000):
                admin.call("DEL", *(f"{prefix}j:{i}" for i in range(first, min(jobs, first + 1_000))))
        finally:
            admin.close()
