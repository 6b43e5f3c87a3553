/// The Lua of the scripts that move jobs into or out of a final state: outcomes, the rescue of
/// expired leases, and the operator's retry, cancel, delete and prune. Each also keeps the
/// books of workflows in the same script (``RedisScript/workflowPrelude``): a batch's counts
/// and callbacks, a job's dependents.
extension RedisScript {
    static let finishBody = #"""
        -- ARGV: P, worker, n, then per outcome: id, outcome, at, runat, error json or '',
        -- hasresult, result → {ids not written…}, then 1 when jobs became claimable (released
        -- dependents, callbacks) or a batch finished, else 0.
        local worker, n, F = ARGV[2], tonumber(ARGV[3]), 7
        local lost, wakeup = {}, false
        local done, finished, moves, queues = {}, {}, {}, {}
        local nd, nf, prefix = 0, 0, P .. ':job:'
        for i = 0, n - 1 do
          local b = 4 + i * F
          local id, outcome, at, runat, err, hasres, res = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]
          local k = prefix .. id
          local f = redis.call('HMGET', k, 'state', 'owner', 'queue', 'prio', 'runat', 'ukey', 'batch', 'hasdeps')
          if f[1] ~= 'running' or f[2] ~= worker then
            lost[#lost + 1] = id
          else
            local q = f[3] or ''
            queues[q] = true
            nd = nd + 1; done[nd] = id
            -- 'owner' and 'lease' stay: they count only while the state is running, and
            -- the next claim overwrites them (one command less per job).
            local to = outcome
            if outcome == 'retry' then to = 'scheduled'
            elseif outcome == 'snooze' then
              to = 'scheduled'
              unspend(k)
            elseif outcome == 'handback' then
              to = 'available'
              unspend(k)
            end
            if err ~= '' then adderr(k, cjson.decode(err)) end
            local byq = moves[q]
            if not byq then byq = {}; moves[q] = byq end
            byq[to] = (byq[to] or 0) + 1
            if to == 'scheduled' then
              redis.call('HSET', k, 'state', to, 'expired', '0', 'runat', runat)
              redis.call('ZADD', schedk(q), runat, id)
              wakeup = true
            elseif to == 'available' then
              redis.call('HSET', k, 'state', to, 'expired', '0')
              redis.call('ZADD', readyk(q), pscore(f[4]), rmember(f[5], id))
              wakeup = true
            else
              if outcome == 'succeeded' and hasres == '1' then
                redis.call('HSET', k, 'state', to, 'expired', '0', 'finished', at, 'result', res)
              else
                redis.call('HSET', k, 'state', to, 'expired', '0', 'finished', at)
              end
              finished[nf + 1] = at; finished[nf + 2] = id; nf = nf + 2
              if f[6] and f[6] ~= '' and redis.call('HGET', UNI, f[6]) == id then redis.call('HDEL', UNI, f[6]) end
              if f[7] or f[8] then ended(id, to, tonumber(at) or 0, f[7], f[8]) end
            end
          end
        end
        -- Set and counter updates once per batch, not once per job.
        for i = 1, #done, 1000 do
          redis.call('ZREM', RUN, unpack(done, i, math.min(i + 999, #done)))
        end
        zaddall(FIN, finished)
        for q, byq in pairs(moves) do
          for to, c in pairs(byq) do count(q, 'running', -c); count(q, to, c) end
        end
        flush()
        if wakeup or WOKE or capped(queues) then wake() end
        lost[#lost + 1] = WOKE and 1 or 0
        return lost
        """#

    static let rescueBody = #"""
        -- ARGV: P, now, poison after, batch limit.
        local now, poison, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local ids = redis.call('ZRANGEBYSCORE', RUN, '-inf', '(' .. fmt(now), 'LIMIT', 0, limit)
        local rescued, poisoned = {}, {}
        for i = 1, #ids do
          local id = ids[i]
          local k = jobkey(id)
          local f = redis.call('HMGET', k, 'state', 'owner', 'queue', 'prio', 'runat', 'attempt', 'expired', 'batch', 'hasdeps')
          redis.call('ZREM', RUN, id)
          if f[1] == 'running' then
            local q = f[3]
            local expired = (tonumber(f[7]) or 0) + 1
            redis.call('HDEL', k, 'owner', 'lease')
            redis.call('HSET', k, 'expired', fmt(expired))
            count(q, 'running', -1)
            adderr(k, {attempt = tonumber(f[6]) or 0, at = now, reason = 'lease_expired',
              message = "the lease of worker '" .. (f[2] or '?') .. "' expired (worker crashed or hung)"})
            if expired > poison then
              adderr(k, {attempt = tonumber(f[6]) or 0, at = now, reason = 'poison',
                message = 'poison job: its lease expired ' .. expired .. ' times in a row'})
              redis.call('HSET', k, 'state', 'dead', 'finished', fmt(now))
              redis.call('ZADD', FIN, fmt(now), id)
              release(k, id)
              count(q, 'dead', 1)
              ended(id, 'dead', now, f[8], f[9])
              table.insert(poisoned, id)
            else
              redis.call('HSET', k, 'state', 'available')
              redis.call('ZADD', readyk(q), pscore(f[4]), rmember(f[5], id))
              count(q, 'available', 1)
              table.insert(rescued, id)
            end
          end
        end
        flush()
        if #rescued > 0 or #poisoned > 0 or WOKE then wake() end
        return {rescued, poisoned}
        """#

    static let retryBody = #"""
        -- ARGV: P, now, ids… A retried job of a batch counts out of its final state.
        local now = ARGV[2]
        local out = {}
        for i = 3, #ARGV do
          local id = ARGV[i]
          local k = jobkey(id)
          local f = redis.call('HMGET', k, 'state', 'queue', 'prio', 'ukey', 'batch')
          if f[1] == 'dead' or f[1] == 'cancelled' then
            local ok = true
            if f[4] then
              local h = redis.call('HGET', UNI, f[4])
              if h and h ~= id and live(redis.call('HGET', jobkey(h), 'state')) then ok = false end
            end
            if ok then
              local q = f[2]
              redis.call('ZREM', FIN, id)
              redis.call('HDEL', k, 'finished', 'owner', 'lease')
              redis.call('HSET', k, 'state', 'available', 'attempt', '0', 'runat', now, 'expired', '0')
              redis.call('ZADD', readyk(q), pscore(f[3]), rmember(now, id))
              count(q, f[1], -1); count(q, 'available', 1)
              if f[4] then redis.call('HSET', UNI, f[4], id) end
              if f[5] and f[5] ~= '' then bcount(f[5], f[1], -1, nil) end
              table.insert(out, id)
            end
          end
        end
        flush()
        if #out > 0 then wake() end
        return out
        """#

    static let cancelBody = #"""
        -- ARGV: P, now, ids…
        local now = tonumber(ARGV[2])
        local out = {}
        for i = 3, #ARGV do
          local id = ARGV[i]
          local k = jobkey(id)
          local f = redis.call('HMGET', k, 'state', 'queue', 'runat', 'attempt', 'batch', 'hasdeps')
          if live(f[1]) and f[2] then
            cancelone(id, k, f[1], f[2], f[3], f[4], f[5], f[6], 'cancelled by request', 'cancelled', now)
            table.insert(out, id)
          end
        end
        flush()
        if #out > 0 or WOKE then wake() end
        return out
        """#

    static let deleteBody = #"""
        -- ARGV: P, ids… An unfinished job of a batch, or one that others wait for, counts as
        -- cancelled (now, server time) for its batch and its dependents.
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local out = {}
        for i = 2, #ARGV do
          local id = ARGV[i]
          local k = jobkey(id)
          local f = redis.call('HMGET', k, 'state', 'queue', 'runat', 'batch', 'hasdeps')
          if f[1] then
            detach(id, f[2], f[1], f[3])
            release(k, id)
            redis.call('DEL', k)
            redis.call('ZREM', IDS, id)
            count(f[2], f[1], -1)
            if f[4] and f[4] ~= '' then redis.call('ZREM', membersk(f[4]), id) end
            if not final(f[1]) then ended(id, 'cancelled', now, f[4], f[5]) end
            table.insert(out, id)
          end
        end
        flush()
        if #out > 0 then wake() end
        return out
        """#

    static let pruneBody = #"""
        -- ARGV: P, before, limit → how many jobs were deleted. As many batches that first
        -- finished before then go too (their hash, callbacks and list of jobs).
        local ids = redis.call('ZRANGEBYSCORE', FIN, '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
        for i = 1, #ids do
          local id = ids[i]
          local k = jobkey(id)
          local f = redis.call('HMGET', k, 'state', 'queue', 'batch')
          redis.call('ZREM', FIN, id)
          if f[1] then
            release(k, id)
            redis.call('DEL', k, depk(id))
            redis.call('ZREM', IDS, id)
            count(f[2], f[1], -1)
            if f[3] and f[3] ~= '' then redis.call('ZREM', membersk(f[3]), id) end
          end
        end
        local bs = redis.call('ZRANGEBYSCORE', BFIN, '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
        for i = 1, #bs do
          local b = bs[i]
          redis.call('UNLINK', batchk(b), membersk(b), cbk(b, 'success'), cbk(b, 'complete'), cbk(b, 'dead'))
          redis.call('ZREM', BATCHES, b)
          redis.call('ZREM', BFIN, b)
        end
        return #ids
        """#
}
