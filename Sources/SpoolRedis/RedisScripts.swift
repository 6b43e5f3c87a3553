/// The Lua scripts that make every state transition one atomic step on the server.
///
/// Each is loaded with `SCRIPT LOAD` and called with `EVALSHA sha 0 PREFIX ARGS…` (reloaded
/// when the server answers `NOSCRIPT`, after a restart or `SCRIPT FLUSH`). `PREFIX` is
/// `{NAMESPACE}`: every key of a namespace carries that one hash tag, so on a Redis Cluster
/// all of them live in one slot and the scripts stay valid there (at the price of not
/// sharding one namespace; use several namespaces to spread load).
///
/// Keys (P is the prefix):
/// - `P:job:ID` hash: one job (`state`, `queue`, `kind`, `payload`, `prio`, `attempt`, `max`,
///   `runat`, `created`, `attempted`, `finished`, `owner`, `lease`, `errors`, `ukey`,
///   `timeout`, `result`, `progress`, `expired`, `meta`). Times are milliseconds since 1970.
///   `owner` and `lease` mean something only while `state` is `running` (a finish leaves them).
/// - `P:q:QUEUE:ready` sorted set of available jobs: score `-priority`, member the run-at
///   (15 digits) then the id, so a range reads them by priority, then run-at, then id.
/// - `P:q:QUEUE:sched` sorted set of scheduled jobs by run-at; claims promote the due ones.
/// - `P:running` sorted set of running jobs by lease expiry (what the rescue reads).
/// - `P:finished` sorted set of finished jobs by finish time (what the prune reads).
/// - `P:ids` sorted set of every id (score 0: lexical order is id order), for listings.
/// - `P:unique` hash unique key → id of the live job holding it.
/// - `P:counts` hash `STATE:QUEUE` → number of jobs; `P:queues` and `P:paused` sets.
/// - `P:limits` hash queue → `MAXRUNNING,RATE,PERIODMS` (each empty for none), and
///   `P:q:QUEUE:starts` sorted set of a rate-limited queue's claims in its window: score the
///   claim time, member `TIME:FIRSTID:COUNT`.
/// - `P:leader:DUTY` string: the holder of a cluster-wide duty, with a time-to-live.
/// - `P:listeners` sorted set of waiting processes by expiry (server time), and
///   `P:wake:LISTENER` marker lists they block on (BLPOP).
/// - Batches and dependencies: see ``RedisScript/workflowPrelude`` (a `pending` job is in no
///   queue set; it is counted under `pending:QUEUE`).
enum RedisScript: String, CaseIterable, Sendable {
    case enqueue, claim, finish, heartbeat, rescue, ready, list, retry, cancel, delete, prune, register, lead, resign
    case batch, cancelBatch, handOff

    /// The full source: the shared preludes (jobs, then workflows), then the script's body.
    var source: String { Self.prelude + Self.workflowPrelude + body }

    static let prelude = #"""
        local P = ARGV[1]
        local RUN, FIN, IDS, UNI, CNT = P .. ':running', P .. ':finished', P .. ':ids', P .. ':unique', P .. ':counts'
        local QS, PAUSED, LST = P .. ':queues', P .. ':paused', P .. ':listeners'
        local function jobkey(id) return P .. ':job:' .. id end
        -- A job hash without a queue (a corrupt row) names the queue '' here, so no script
        -- fails halfway through its writes on it; no worker claims from that queue.
        local function readyk(q) return P .. ':q:' .. (q or '') .. ':ready' end
        local function schedk(q) return P .. ':q:' .. (q or '') .. ':sched' end
        local function fmt(n) return string.format('%d', n) end
        local function rmember(runat, id)
          local t = tonumber(runat) or 0
          if t < 0 then t = 0 end
          return string.format('%015d', t) .. id
        end
        -- The ready-set score of a priority: exact within ±10^15, clamped beyond (Lua numbers
        -- are doubles, and a score is formatted as a 64-bit integer).
        local function pscore(p)
          local n = -(tonumber(p) or 0)
          if n > 1e15 then n = 1e15 elseif n < -1e15 then n = -1e15 end
          return fmt(n)
        end
        -- Adds d to the count of jobs of queue q in state s. A stored count that HINCRBY refuses
        -- (not an integer, or one that would overflow: a corrupt field) starts afresh rather
        -- than failing the script halfway through its writes; the usual path costs nothing more.
        local function count(q, s, d)
          if not q or q == '' or not s then return end
          local f = s .. ':' .. q
          local v = redis.pcall('HINCRBY', CNT, f, d)
          if type(v) ~= 'number' then
            v = math.max(0, d)
            redis.call('HSET', CNT, f, fmt(v))
          end
          if v == 0 then redis.call('HDEL', CNT, f) end
        end
        local function live(s) return s == 'pending' or s == 'scheduled' or s == 'available' or s == 'running' end
        local function detach(id, q, s, runat)
          if s == 'pending' then return
          elseif s == 'scheduled' then redis.call('ZREM', schedk(q), id)
          elseif s == 'available' then redis.call('ZREM', readyk(q), rmember(runat, id))
          elseif s == 'running' then redis.call('ZREM', RUN, id)
          else redis.call('ZREM', FIN, id) end
        end
        -- A stored history that is not a JSON array (a corrupt field) is started afresh rather
        -- than failing the script halfway through its writes.
        local function adderr(k, e)
          local raw = redis.call('HGET', k, 'errors')
          local list = {}
          if raw and raw ~= '' then
            local ok, decoded = pcall(cjson.decode, raw)
            if ok and type(decoded) == 'table' then list = decoded end
          end
          table.insert(list, e)
          while #list > 20 do table.remove(list, 1) end
          redis.call('HSET', k, 'errors', cjson.encode(list))
        end
        -- Gives back the attempt a claim counted (snooze, hand-back): computed, not HINCRBY,
        -- which fails on a stored value that is not an integer.
        local function unspend(k)
          local a = tonumber(redis.call('HGET', k, 'attempt')) or 1
          if a < 1 then a = 1 end
          redis.call('HSET', k, 'attempt', fmt(math.min(a - 1, 2147483647)))
        end
        local function release(k, id)
          local u = redis.call('HGET', k, 'ukey')
          if u and redis.call('HGET', UNI, u) == id then redis.call('HDEL', UNI, u) end
        end
        -- ZADD of flat score, member pairs, 1000 pairs per call (Lua's unpack limit).
        local function zaddall(key, pairs_)
          for i = 1, #pairs_, 2000 do
            redis.call('ZADD', key, unpack(pairs_, i, math.min(i + 1999, #pairs_)))
          end
        end
        local LIM = P .. ':limits'
        local function startsk(q) return P .. ':q:' .. q .. ':starts' end
        -- What a queue's limits (QueueLimits) allow at `now`: the jobs a claim may start (nil
        -- without limits), whether it has a rate, and when a full rate window reopens. With
        -- `prune`, starts that left the window are dropped.
        local function allowance(q, now, prune)
          local raw = redis.call('HGET', LIM, q)
          if not raw then return nil, false, nil end
          local m, r, per = string.match(raw, '^(%d*),(%d*),(%d*)$')
          local jobs, reopens = 1e15, nil
          if m and m ~= '' then
            jobs = math.max(0, tonumber(m) - (tonumber(redis.call('HGET', CNT, 'running:' .. q)) or 0))
          end
          if r and r ~= '' then
            local limit, period = tonumber(r), tonumber(per)
            local since = now - period
            if prune then redis.call('ZREMRANGEBYSCORE', startsk(q), '-inf', fmt(since)) end
            local starts = redis.call('ZRANGEBYSCORE', startsk(q), '(' .. fmt(since), '+inf', 'WITHSCORES')
            local used = 0
            for i = 1, #starts, 2 do used = used + tonumber(string.match(starts[i], ':(%d+)$')) end
            jobs = math.min(jobs, math.max(0, limit - used))
            for i = 1, #starts, 2 do
              if used < limit then break end
              used = used - tonumber(string.match(starts[i], ':(%d+)$'))
              reopens = tonumber(starts[i + 1]) + period
            end
            return jobs, true, reopens
          end
          return jobs, false, nil
        end
        -- True when one of the queues has a max-running limit (a finish there frees a slot).
        local function capped(qs)
          for q in pairs(qs) do
            local raw = redis.call('HGET', LIM, q)
            if raw and string.match(raw, '^%d') then return true end
          end
          return false
        end
        local function wake()
          local t = redis.call('TIME')
          local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          redis.call('ZREMRANGEBYSCORE', LST, '-inf', fmt(now))
          local ms = redis.call('ZRANGE', LST, 0, 99)
          for i = 1, #ms do
            local w = P .. ':wake:' .. ms[i]
            redis.call('LPUSH', w, '1')
            redis.call('LTRIM', w, 0, 0)
            redis.call('PEXPIRE', w, 60000)
          end
        end

        """#

    var body: String {
        switch self {
        case .enqueue: return Self.enqueueBody
        case .finish: return Self.finishBody
        case .rescue: return Self.rescueBody
        case .retry: return Self.retryBody
        case .cancel: return Self.cancelBody
        case .delete: return Self.deleteBody
        case .prune: return Self.pruneBody
        case .batch: return Self.batchReadBody
        case .cancelBatch: return Self.cancelBatchBody
        case .handOff:
            // ARGV: P, now, lease until, worker, then one job: id, queue, kind, payload, prio,
            // max, runat, created, timeout ('' for none), meta. The enqueue of one due job
            // without a unique key, batch or dependencies while a worker of the caller's process
            // waits: stored running under that worker's lease when a claim right after would
            // return it (the queue is not paused, has no limits, and holds no due job), else
            // stored available and announced. Returns the state stored.
            return #"""
                local now, untilms, worker = tonumber(ARGV[2]), ARGV[3], ARGV[4]
                local id, q, kind, payload, prio, max = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
                local runat, created, timeout, meta = ARGV[11], ARGV[12], ARGV[13], ARGV[14]
                local k = jobkey(id)
                if redis.call('EXISTS', k) == 1 then return redis.error_reply('DUPLICATE job id ' .. id .. ' already exists') end
                local direct = redis.call('SISMEMBER', PAUSED, q) == 0 and redis.call('HEXISTS', LIM, q) == 0
                  and redis.call('ZCARD', readyk(q)) == 0
                  and #redis.call('ZRANGEBYSCORE', schedk(q), '-inf', fmt(now), 'LIMIT', 0, 1) == 0
                if direct then
                  redis.call('HSET', k, 'id', id, 'queue', q, 'kind', kind, 'payload', payload, 'prio', prio, 'state', 'running',
                    'attempt', '1', 'max', max, 'runat', runat, 'created', created, 'expired', '0', 'meta', meta,
                    'owner', worker, 'lease', untilms, 'attempted', fmt(now))
                  redis.call('ZADD', RUN, untilms, id)
                else
                  redis.call('HSET', k, 'id', id, 'queue', q, 'kind', kind, 'payload', payload, 'prio', prio, 'state', 'available',
                    'attempt', '0', 'max', max, 'runat', runat, 'created', created, 'expired', '0', 'meta', meta)
                  redis.call('ZADD', readyk(q), pscore(prio), rmember(runat, id))
                end
                if timeout ~= '' then redis.call('HSET', k, 'timeout', timeout) end
                local st = direct and 'running' or 'available'
                count(q, st, 1)
                redis.call('SADD', QS, q)
                redis.call('ZADD', IDS, '0', id)
                if not direct then wake() end
                return st
                """#
        case .claim:
            // ARGV: P, now, lease until, worker, total, demands, then per demand: queue, limit.
            // Returns 12 cells per job, then two: 1 when the claim took every due job of the
            // demanded queues (none left over a demand's limit or a queue's limits, none left
            // to promote), else 0; and the earliest run-at of their scheduled jobs ('' for none).
            return #"""
                local now, untilms, worker, left, nd = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
                local out = {}
                local exhaustive, nextdue = true, nil
                for d = 0, nd - 1 do
                  if left <= 0 then exhaustive = false; break end
                  local q = ARGV[7 + 2 * d]
                  local lim = math.min(tonumber(ARGV[8 + 2 * d]), left)
                  local allowed, rated = allowance(q, now, true)
                  if allowed then lim = math.min(lim, allowed); exhaustive = false end
                  if lim > 0 and redis.call('SISMEMBER', PAUSED, q) == 0 then
                    local due = redis.call('ZRANGEBYSCORE', schedk(q), '-inf', fmt(now), 'LIMIT', 0, 1000)
                    if #due == 1000 then exhaustive = false end
                    for i = 1, #due do
                      local id = due[i]
                      local k = jobkey(id)
                      local f = redis.call('HMGET', k, 'prio', 'runat')
                      redis.call('ZREM', schedk(q), id)
                      redis.call('HSET', k, 'state', 'available')
                      redis.call('ZADD', readyk(q), pscore(f[1]), rmember(f[2], id))
                      count(q, 'scheduled', -1); count(q, 'available', 1)
                    end
                    local ms = redis.call('ZRANGE', readyk(q), 0, lim - 1)
                    if #ms > 0 then
                      -- The range just read is the head of the set: drop it in one call.
                      redis.call('ZREMRANGEBYRANK', readyk(q), 0, #ms - 1)
                      local leases, nowtext, prefix = {}, fmt(now), P .. ':job:'
                      -- Direct stores at a running index: no temporary row, no table.insert.
                      local o = #out
                      for i = 1, #ms do
                        local id = string.sub(ms[i], 16)
                        local k = prefix .. id
                        local f = redis.call('HMGET', k, 'attempt', 'kind', 'payload', 'prio', 'max', 'created', 'runat', 'timeout', 'meta', 'batch')
                        local attempt = (tonumber(f[1]) or 0) + 1
                        redis.call('HSET', k, 'attempt', attempt, 'state', 'running', 'owner', worker, 'lease', untilms, 'attempted', nowtext)
                        leases[2 * i - 1] = untilms; leases[2 * i] = id
                        out[o + 1] = id; out[o + 2] = q; out[o + 3] = f[2] or ''; out[o + 4] = f[3] or ''
                        out[o + 5] = f[4] or '0'; out[o + 6] = attempt; out[o + 7] = f[5] or '1'; out[o + 8] = f[6] or '0'
                        out[o + 9] = f[7] or '0'; out[o + 10] = f[8] or ''; out[o + 11] = f[9] or ''; out[o + 12] = f[10] or ''
                        o = o + 12
                      end
                      zaddall(RUN, leases)
                      count(q, 'available', -#ms); count(q, 'running', #ms)
                      if rated then
                        redis.call('ZADD', startsk(q), nowtext, nowtext .. ':' .. string.sub(ms[1], 16) .. ':' .. #ms)
                      end
                    end
                    left = left - #ms
                    if #ms == lim then exhaustive = false end
                    -- The next run-at matters only to the wait after an exhaustive claim.
                    if exhaustive then
                      local s = redis.call('ZRANGE', schedk(q), 0, 0, 'WITHSCORES')
                      if #s > 0 and (nextdue == nil or tonumber(s[2]) < nextdue) then nextdue = tonumber(s[2]) end
                    end
                  end
                end
                out[#out + 1] = exhaustive and 1 or 0
                out[#out + 1] = nextdue and fmt(nextdue) or ''
                return out
                """#
        case .heartbeat:
            // ARGV: P, worker, lease until, n, then per job: id, hasprogress, progress.
            return #"""
                local worker, untilms, n = ARGV[2], ARGV[3], tonumber(ARGV[4])
                local lost = {}
                for i = 0, n - 1 do
                  local b = 5 + i * 3
                  local id = ARGV[b]
                  local k = jobkey(id)
                  local f = redis.call('HMGET', k, 'state', 'owner')
                  if f[1] ~= 'running' or f[2] ~= worker then
                    table.insert(lost, id)
                  else
                    redis.call('HSET', k, 'lease', untilms)
                    redis.call('ZADD', RUN, untilms, id)
                    if ARGV[b + 1] == '1' then redis.call('HSET', k, 'progress', ARGV[b + 2]) end
                  end
                end
                return lost
                """#
        case .ready:
            // ARGV: P, now, queues… → {1, ''} when work is claimable now, else {0, next due}.
            return #"""
                local now = tonumber(ARGV[2])
                local nextdue = nil
                for i = 3, #ARGV do
                  local q = ARGV[i]
                  local allowed, _, reopens = allowance(q, now, false)
                  if allowed == 0 then
                    -- At a limit: no work until it reopens.
                    if reopens and (nextdue == nil or reopens < nextdue) then nextdue = reopens end
                  elseif redis.call('SISMEMBER', PAUSED, q) == 0 then
                    if redis.call('ZCARD', readyk(q)) > 0 then return {1, ''} end
                    local s = redis.call('ZRANGE', schedk(q), 0, 0, 'WITHSCORES')
                    if #s > 0 then
                      local t = tonumber(s[2])
                      if t <= now then return {1, ''} end
                      if nextdue == nil or t < nextdue then nextdue = t end
                    end
                  end
                end
                if nextdue == nil then return {0, ''} end
                return {0, fmt(nextdue)}
                """#
        case .list:
            // ARGV: P, after ('' for none), limit, scan budget, states ('*' for any, else
            // comma-separated), hasqueue, queue, haskind, kind → {cursor or '', ids…}.
            return #"""
                local after, limit, budget = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
                local anystate, states = ARGV[5] == '*', {}
                if not anystate then for s in string.gmatch(ARGV[5], '[^,]+') do states[s] = true end end
                local hasq, q, hask, kind = ARGV[6] == '1', ARGV[7], ARGV[8] == '1', ARGV[9]
                local hi = '+'
                if after ~= '' then hi = '(' .. after end
                local out, found, scanned, last, more, exhausted = {}, 0, 0, nil, false, false
                while not more and scanned < budget do
                  local batch = redis.call('ZREVRANGEBYLEX', IDS, hi, '-', 'LIMIT', 0, 256)
                  if #batch == 0 then exhausted = true; break end
                  for i = 1, #batch do
                    local id = batch[i]
                    local f = redis.call('HMGET', jobkey(id), 'state', 'queue', 'kind')
                    if f[1] and (anystate or states[f[1]]) and ((not hasq) or f[2] == q) and ((not hask) or f[3] == kind) then
                      if found == limit then more = true; break end
                      found = found + 1
                      table.insert(out, id)
                    end
                    scanned = scanned + 1
                    last = id
                    if scanned >= budget then break end
                  end
                  if last then hi = '(' .. last end
                end
                local cursor = ''
                if more then cursor = out[#out] or ''
                elseif not exhausted and last then cursor = last end
                table.insert(out, 1, cursor)
                return out
                """#
        case .register:
            // ARGV: P, listener, ttl ms: announces a waiting process until server time + ttl.
            return #"""
                local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
                redis.call('ZADD', LST, fmt(now + tonumber(ARGV[3])), ARGV[2])
                return 1
                """#
        case .lead:
            // ARGV: P, duty, holder, ttl ms → 1 when `holder` holds the duty for ttl from now.
            return #"""
                local k = P .. ':leader:' .. ARGV[2]
                local current = redis.call('GET', k)
                if current == ARGV[3] then
                  redis.call('PEXPIRE', k, ARGV[4])
                  return 1
                end
                if current then return 0 end
                redis.call('SET', k, ARGV[3], 'PX', ARGV[4], 'NX')
                return 1
                """#
        case .resign:
            // ARGV: P, duty, holder → 1 when `holder` held the duty and gave it up.
            return #"""
                local k = P .. ':leader:' .. ARGV[2]
                if redis.call('GET', k) == ARGV[3] then
                  redis.call('DEL', k)
                  return 1
                end
                return 0
                """#
        }
    }
}
