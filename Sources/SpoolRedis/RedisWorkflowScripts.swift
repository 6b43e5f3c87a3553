/// The Lua of workflows (batches and dependencies, ``JobBatching``): the functions every script
/// shares to count a batch's jobs, fire its callbacks and settle a job's dependents, and the
/// scripts of their own (enqueue, reading and cancelling batches).
///
/// Keys (P is the prefix; see ``RedisScript`` for the others):
/// - `P:job:ID` gains `batch` (its batch's id), `deps` (the ids it waits for, comma-separated,
///   in id order), `waiting` (how many of them have not ended), `onfail` (`cancel` or `run`)
///   and `hasdeps` (`1` once a job depends on it).
/// - `P:deps:ID` set: the jobs that wait for job ID; settled and dropped when it ends.
/// - `P:batch:B` hash: one batch (`created`, `total`, `succeeded`, `dead`, `cancelled`, `last`
///   (when a job last ended), `finished` (its first finish), `cancelledat`, `ev:EVENT` (the id of
///   each callback job) and `fired:EVENT`).
/// - `P:batch:B:cb:EVENT` hash: a callback job not yet fired (the fields of a job hash).
/// - `P:batch:B:jobs` sorted set of its jobs' ids (score 0: lexical order is id order).
/// - `P:batches` sorted set of every batch id (score 0), `P:batchfin` the finished ones by
///   their first finish (what the prune reads).
///
/// A script that moves jobs into or out of a final state notes each move of a batch's job
/// (`ended`, `bcount`) and each ended job with dependents; before it returns it settles the
/// dependents (`settle`: release, or cancel in cascade, a loop) and applies the counts once
/// per batch (`flush`), firing callbacks at the milestones. All in the same script as the
/// moves, so a crash cannot separate them.
extension RedisScript {
    static let workflowPrelude = #"""
        local BATCHES, BFIN = P .. ':batches', P .. ':batchfin'
        local function batchk(b) return P .. ':batch:' .. b end
        local function membersk(b) return P .. ':batch:' .. b .. ':jobs' end
        local function cbk(b, e) return P .. ':batch:' .. b .. ':cb:' .. e end
        local function depk(id) return P .. ':deps:' .. id end
        local function final(s) return s == 'succeeded' or s == 'dead' or s == 'cancelled' end
        -- A stored count: an integer in 0...2^53 (a corrupt field reads as 0, a huge one saturates).
        local function cnum(v)
          local n = tonumber(v) or 0
          if n ~= n or n < 0 then return 0 end
          if n > 9007199254740992 then return 9007199254740992 end
          return math.floor(n)
        end
        -- Adds d to a batch's total: computed, not HINCRBY, which fails (halfway through the
        -- script's writes) on a stored value that is not an integer.
        local function addtotal(b, d)
          local bk = batchk(b)
          redis.call('HSET', bk, 'total', fmt(cnum(cnum(redis.call('HGET', bk, 'total')) + d)))
        end
        -- Set when a script made a job claimable (a release, a callback) or a batch finished.
        local WOKE = false
        -- Stores batch b's callback job for event e, once (the event is marked fired even when
        -- its job is gone or already exists): due at `at`, or at its own run-at when later.
        local function fire(b, bk, e, at)
          redis.call('HSET', bk, 'fired:' .. e, '1')
          local ck = cbk(b, e)
          local f = redis.call('HMGET', ck, 'id', 'queue', 'kind', 'payload', 'prio', 'max', 'runat', 'created', 'timeout', 'meta')
          redis.call('DEL', ck)
          local id, q = f[1], f[2]
          if not id or not q or redis.call('EXISTS', jobkey(id)) == 1 then return end
          local runat, st = cnum(f[7]), 'available'
          if runat > at then st = 'scheduled' else runat = at end
          local k = jobkey(id)
          redis.call('HSET', k, 'id', id, 'queue', q, 'kind', f[3] or '', 'payload', f[4] or '', 'prio', f[5] or '0', 'state', st,
            'attempt', '0', 'max', f[6] or '1', 'runat', fmt(runat), 'created', f[8] or fmt(at), 'expired', '0', 'meta', f[10] or '{}')
          if f[9] and f[9] ~= '' then redis.call('HSET', k, 'timeout', f[9]) end
          if st == 'scheduled' then redis.call('ZADD', schedk(q), fmt(runat), id)
          else redis.call('ZADD', readyk(q), pscore(f[5]), rmember(fmt(runat), id)) end
          count(q, st, 1)
          redis.call('SADD', QS, q)
          redis.call('ZADD', IDS, '0', id)
          WOKE = true
        end
        -- Applies moves of batch b's jobs into (+) and out of (-) the final states; `at` is
        -- when the last of them ended (nil when none did). Fires on_dead when `intodead` > 0,
        -- and at the batch's first finish on_complete, and on_success when every job succeeded
        -- and the batch was not cancelled. A batch that is gone (pruned) is left alone.
        local function tally(b, ds, dd, dc, intodead, at)
          local bk = batchk(b)
          local f = redis.call('HMGET', bk, 'total', 'succeeded', 'dead', 'cancelled', 'finished', 'cancelledat', 'last', 'created',
            'ev:dead', 'fired:dead', 'ev:success', 'ev:complete')
          if not f[1] then return end
          local s, d, c = cnum(cnum(f[2]) + ds), cnum(cnum(f[3]) + dd), cnum(cnum(f[4]) + dc)
          local last = tonumber(f[7])
          if at then
            last = at
            redis.call('HSET', bk, 'succeeded', fmt(s), 'dead', fmt(d), 'cancelled', fmt(c), 'last', fmt(at))
          else
            redis.call('HSET', bk, 'succeeded', fmt(s), 'dead', fmt(d), 'cancelled', fmt(c))
          end
          if intodead > 0 and f[9] and not f[10] then fire(b, bk, 'dead', at or cnum(f[8])) end
          local total = cnum(f[1])
          if not f[5] and s + d + c >= total then
            local when = last or cnum(f[8])
            if f[12] then fire(b, bk, 'complete', when) end
            if f[11] and s >= total and not f[6] then fire(b, bk, 'success', when) end
            redis.call('HSET', bk, 'finished', fmt(when))
            redis.call('ZADD', BFIN, fmt(when), b)
            WOKE = true
          end
        end
        -- Moves noted in this script, per batch: {into succeeded, dead, cancelled, into dead, last at}.
        local BT = {}
        local function bcount(b, st, delta, at)
          local t = BT[b]
          if not t then t = {0, 0, 0, 0, nil}; BT[b] = t end
          if st == 'succeeded' then t[1] = t[1] + delta
          elseif st == 'dead' then
            t[2] = t[2] + delta
            if delta > 0 then t[4] = t[4] + 1 end
          elseif st == 'cancelled' then t[3] = t[3] + delta end
          if at and delta > 0 and (t[5] == nil or at > t[5]) then t[5] = at end
        end
        -- Ended jobs with dependents, to settle: {id, state, at}.
        local SETTLE = {}
        -- Job `id` (of batch b, '' or nil for none; hasdeps '1' when others wait for it) reached
        -- final state st at `at`.
        local function ended(id, st, at, b, hasdeps)
          if b and b ~= '' then bcount(b, st, 1, at) end
          if hasdeps == '1' then SETTLE[#SETTLE + 1] = {id, st, at} end
        end
        -- Cancels an unfinished job whose hash fields are known (state s, queue q, run-at, attempt,
        -- batch b, hasdeps), recording an error with `msg` and `reason`.
        local function cancelone(id, k, s, q, runat, attempt, b, hasdeps, msg, reason, at)
          detach(id, q, s, runat)
          redis.call('HDEL', k, 'owner', 'lease')
          redis.call('HSET', k, 'state', 'cancelled', 'finished', fmt(at))
          adderr(k, {attempt = tonumber(attempt) or 0, at = at, message = msg, reason = reason})
          redis.call('ZADD', FIN, fmt(at), id)
          release(k, id)
          count(q, s, -1); count(q, 'cancelled', 1)
          ended(id, 'cancelled', at, b, hasdeps)
        end
        -- Settles the dependents of the ended jobs noted so far, and of those it cancels in turn
        -- (a loop over a growing list, so a chain of any length cascades): a pending dependent
        -- whose last dependency ended well (or that runs anyway) becomes available (scheduled
        -- when its run-at is ahead); one whose dependency ended dead or cancelled is cancelled,
        -- naming it.
        local function settle()
          local i = 1
          while i <= #SETTLE do
            local id, st, at = SETTLE[i][1], SETTLE[i][2], SETTLE[i][3]
            i = i + 1
            local dk = depk(id)
            local ds = redis.call('SMEMBERS', dk)
            redis.call('DEL', dk)
            for j = 1, #ds do
              local dep = ds[j]
              local k = jobkey(dep)
              local f = redis.call('HMGET', k, 'state', 'waiting', 'onfail', 'runat', 'queue', 'prio', 'batch', 'hasdeps', 'attempt')
              if f[1] == 'pending' and f[5] then
                local q = f[5]
                if st == 'succeeded' or f[3] == 'run' then
                  local w = cnum(f[2]) - 1
                  if w > 0 then
                    redis.call('HSET', k, 'waiting', fmt(w))
                  else
                    -- Read as a number (a corrupt field must not stop the script halfway).
                    local ns, runat = 'available', cnum(f[4])
                    if runat > at then ns = 'scheduled' end
                    redis.call('HSET', k, 'waiting', '0', 'state', ns)
                    if ns == 'scheduled' then redis.call('ZADD', schedk(q), fmt(runat), dep)
                    else redis.call('ZADD', readyk(q), pscore(f[6]), rmember(f[4], dep)) end
                    count(q, 'pending', -1); count(q, ns, 1)
                    WOKE = true
                  end
                else
                  cancelone(dep, k, 'pending', q, f[4], f[9], f[7], f[8], 'dependency ' .. id .. ' ended ' .. st, 'dependency_failed', at)
                end
              end
            end
          end
          SETTLE = {}
        end
        -- Settles the noted dependents, then applies the noted batch counts (once per batch).
        local function flush()
          settle()
          for b, t in pairs(BT) do tally(b, t[1], t[2], t[3], t[4], t[5]) end
          BT = {}
        end

        """#

    static let enqueueBody = #"""
        -- ARGV: P, now, n, new batch ('' for none), its created time, callbacks m, then per
        -- callback: event, id, queue, kind, payload, prio, max, runat, created, timeout, meta;
        -- then per job: id, queue, kind, payload, prio, max, runat, created, hasu, ukey,
        -- timeout ('' for none), meta, batch ('' for none), deps (comma-separated), onfail.
        -- Jobs come after the jobs of the call they depend on.
        local now, n, nb, bcreated, m = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
        local C, F = 7, 15
        local J = C + m * 11
        local function refuse(id, msg) return redis.error_reply('UNPROCESSABLE ' .. id .. ' ' .. msg) end
        local seen, joining = {}, {}
        if nb ~= '' and redis.call('EXISTS', batchk(nb)) == 1 then return refuse('-', 'batch: a batch with id ' .. nb .. ' already exists') end
        for i = 0, n - 1 do
          local b = J + i * F
          local id = ARGV[b]
          if seen[id] then return redis.error_reply('DUPLICATE the batch holds job id ' .. id .. ' twice') end
          seen[id] = true
          if redis.call('EXISTS', jobkey(id)) == 1 then return redis.error_reply('DUPLICATE job id ' .. id .. ' already exists') end
          local jb = ARGV[b + 12]
          if jb ~= '' and jb ~= nb and not joining[jb] then
            local f = redis.call('HMGET', batchk(jb), 'total', 'succeeded', 'dead', 'cancelled', 'cancelledat')
            if not f[1] then return refuse(id, 'batch: no batch has id ' .. jb) end
            local total, s = cnum(f[1]), cnum(f[2])
            local st = 'running'
            if f[5] then st = 'cancelled'
            elseif s + cnum(f[3]) + cnum(f[4]) >= total then
              if s >= total then st = 'succeeded' else st = 'completed' end
            end
            if st ~= 'running' then return refuse(id, 'batch: batch ' .. jb .. ' is ' .. st .. ': jobs can be added only while it runs') end
            joining[jb] = true
          end
          if ARGV[b + 13] ~= '' then
            for dep in string.gmatch(ARGV[b + 13], '[^,]+') do
              if not seen[dep] and redis.call('EXISTS', jobkey(dep)) == 0 then
                -- A job later in the call is not stored yet: the caller orders jobs after their
                -- dependencies, so this one is unknown.
                return refuse(id, 'depends_on: no job has id ' .. dep)
              end
            end
          end
        end
        -- The totals count every job of the call from the start; jobs not stored leave again.
        local totals = {}
        if nb ~= '' then totals[nb] = 0 end
        for i = 0, n - 1 do
          local jb = ARGV[J + i * F + 12]
          if jb ~= '' then totals[jb] = (totals[jb] or 0) + 1 end
        end
        if nb ~= '' then
          local bk = batchk(nb)
          redis.call('HSET', bk, 'created', bcreated, 'total', fmt(totals[nb] or 0), 'succeeded', '0', 'dead', '0', 'cancelled', '0')
          for c = 0, m - 1 do
            local a = C + c * 11
            local e = ARGV[a]
            redis.call('HSET', bk, 'ev:' .. e, ARGV[a + 1])
            redis.call('HSET', cbk(nb, e), 'id', ARGV[a + 1], 'queue', ARGV[a + 2], 'kind', ARGV[a + 3], 'payload', ARGV[a + 4],
              'prio', ARGV[a + 5], 'max', ARGV[a + 6], 'runat', ARGV[a + 7], 'created', ARGV[a + 8], 'timeout', ARGV[a + 9], 'meta', ARGV[a + 10])
          end
          redis.call('ZADD', BATCHES, '0', nb)
        end
        for jb, c in pairs(totals) do
          if jb ~= nb then addtotal(jb, c) end
          bcount(jb, '', 0, nil)
        end
        local out, alias, NODEPS = {}, {}, {}
        for i = 0, n - 1 do
          local b = J + i * F
          local id, q, kind, payload, prio, max = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
          local runat, created, hasu, ukey, timeout, meta = ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], ARGV[b + 9], ARGV[b + 10], ARGV[b + 11]
          local jb, depstext, onfail = ARGV[b + 12], ARGV[b + 13], ARGV[b + 14]
          local holder, hstate = nil, nil
          if hasu == '1' then
            local h = redis.call('HGET', UNI, ukey)
            if h then
              local st = redis.call('HGET', jobkey(h), 'state')
              if live(st) then holder, hstate = h, st end
            end
          end
          if holder then
            alias[id] = holder
            if jb ~= '' then addtotal(jb, -1) end
            out[#out + 1] = holder; out[#out + 1] = hstate; out[#out + 1] = 1
          else
            local st = 'available'
            if tonumber(runat) > now then st = 'scheduled' end
            -- Its dependencies (through the jobs standing in for ones not stored), each once.
            local deps, waiting, failed, fstate = NODEPS, 0, nil, nil
            if depstext ~= '' then
              local dset = {}
              deps = {}
              for dep in string.gmatch(depstext, '[^,]+') do
                dep = alias[dep] or dep
                if not dset[dep] then dset[dep] = true; deps[#deps + 1] = dep end
              end
              table.sort(deps)
              for d = 1, #deps do
                local ds = redis.call('HGET', jobkey(deps[d]), 'state')
                if ds == 'dead' or ds == 'cancelled' then
                  if onfail ~= 'run' and not failed then failed, fstate = deps[d], ds end
                elseif ds ~= 'succeeded' then
                  waiting = waiting + 1
                end
              end
              if #deps > 0 and (waiting > 0 or failed) then st = 'pending' end
            end
            local k = jobkey(id)
            if jb ~= '' then
              redis.call('HSET', k, 'id', id, 'queue', q, 'kind', kind, 'payload', payload, 'prio', prio, 'state', st,
                'attempt', '0', 'max', max, 'runat', runat, 'created', created, 'expired', '0', 'meta', meta, 'batch', jb)
              redis.call('ZADD', membersk(jb), '0', id)
            else
              redis.call('HSET', k, 'id', id, 'queue', q, 'kind', kind, 'payload', payload, 'prio', prio, 'state', st,
                'attempt', '0', 'max', max, 'runat', runat, 'created', created, 'expired', '0', 'meta', meta)
            end
            if hasu == '1' then
              redis.call('HSET', k, 'ukey', ukey)
              redis.call('HSET', UNI, ukey, id)
            end
            if timeout ~= '' then redis.call('HSET', k, 'timeout', timeout) end
            if #deps > 0 then
              redis.call('HSET', k, 'deps', table.concat(deps, ','), 'waiting', fmt(waiting), 'onfail', onfail)
              for d = 1, #deps do
                local dkey = jobkey(deps[d])
                if not final(redis.call('HGET', dkey, 'state')) then
                  redis.call('SADD', depk(deps[d]), id)
                  redis.call('HSET', dkey, 'hasdeps', '1')
                end
              end
            end
            if st == 'scheduled' then redis.call('ZADD', schedk(q), runat, id)
            elseif st == 'available' then redis.call('ZADD', readyk(q), pscore(prio), rmember(runat, id)) end
            count(q, st, 1)
            redis.call('SADD', QS, q)
            redis.call('ZADD', IDS, '0', id)
            if failed then
              cancelone(id, k, 'pending', q, runat, '0', jb, nil, 'dependency ' .. failed .. ' ended ' .. fstate, 'dependency_failed', now)
              st = 'cancelled'
            end
            out[#out + 1] = id; out[#out + 1] = st; out[#out + 1] = 0
          end
        end
        flush()
        wake()
        return out
        """#

    static let batchReadBody = #"""
        -- ARGV: P, batch ids… → per batch: {its hash (HGETALL), {state, count, …} of its jobs}, or
        -- an empty list when it is unknown.
        local out = {}
        for i = 2, #ARGV do
          local b = ARGV[i]
          local fields = redis.call('HGETALL', batchk(b))
          if #fields == 0 then
            out[#out + 1] = {}
          else
            local counts, ids, cursor = {}, nil, '-'
            repeat
              ids = redis.call('ZRANGEBYLEX', membersk(b), cursor, '+', 'LIMIT', 0, 1000)
              for j = 1, #ids do
                local s = redis.call('HGET', jobkey(ids[j]), 'state')
                if s then counts[s] = (counts[s] or 0) + 1 end
              end
              if #ids > 0 then cursor = '(' .. ids[#ids] end
            until #ids < 1000
            local flat = {}
            for s, c in pairs(counts) do flat[#flat + 1] = s; flat[#flat + 1] = c end
            out[#out + 1] = {fields, flat}
          end
        end
        return out
        """#

    static let cancelBatchBody = #"""
        -- ARGV: P, batch, now → {1, ids cancelled…}, or {0} when the batch is unknown.
        local b, now = ARGV[2], tonumber(ARGV[3])
        local bk = batchk(b)
        local f = redis.call('HMGET', bk, 'total', 'succeeded', 'dead', 'cancelled', 'cancelledat')
        if not f[1] then return {0} end
        if not f[5] and cnum(f[2]) + cnum(f[3]) + cnum(f[4]) < cnum(f[1]) then redis.call('HSET', bk, 'cancelledat', fmt(now)) end
        local out = {1}
        local ids, cursor = nil, '-'
        repeat
          ids = redis.call('ZRANGEBYLEX', membersk(b), cursor, '+', 'LIMIT', 0, 1000)
          for j = 1, #ids do
            local id = ids[j]
            local k = jobkey(id)
            local g = redis.call('HMGET', k, 'state', 'queue', 'runat', 'attempt', 'batch', 'hasdeps')
            if g[1] and g[2] and live(g[1]) then
              cancelone(id, k, g[1], g[2], g[3], g[4], g[5], g[6], 'cancelled with its batch', 'cancelled', now)
              out[#out + 1] = id
            end
          end
          if #ids > 0 then cursor = '(' .. ids[#ids] end
        until #ids < 1000
        flush()
        if #out > 1 or WOKE then wake() end
        return out
        """#
}
