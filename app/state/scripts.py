"""The one Lua script every Redis round trip runs: a batch of operations, executed atomically.

ARGV is a flat list of operations, each an op code followed by its arguments; KEYS holds the
keys of each operation in the same order. Times come from Redis (`TIME`), so workers on
different machines agree on them. Lua numbers become integers in a reply: times and waits are
returned in microseconds.

Ops (keys; args -> reply):
  A admit    (bucket, breaker; probes, rate, burst, ttl_ms, n, max_wait_us)
                 -> {state (-1: no breaker), generation, passed, allowed, tokens_e6}
             n calls of one provider, in order: the first `passed` pass the breaker, the first
             `allowed` of those get a token (debt allowed) within max_wait; `tokens_e6` is the
             bucket before them (millionths), from which the caller works out each wait.
  T trip     (breaker; generation, open_s)                    -> {state, generation}
  P probe    (breaker; generation, failed, probes, open_s)    -> {state, generation}
  R release  (breaker; generation)                            -> {state, generation}
  S set      (key; ttl_ms, value)                             -> {1}
  C client   (bucket; rate, burst, ttl_ms)                    -> {wait_us}
  H beat     (workers; worker, window_s)                      -> {live workers}
Breaker states: 0 closed, 1 open, 2 half-open.
"""

BATCH = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function num(x) return string.format('%.17g', x) end

local function breaker(key)
  local v = redis.call('HMGET', key, 's', 'g', 'u', 'o', 'k')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0,
         tonumber(v[4]) or 0, tonumber(v[5]) or 0
end

local function move(key, s, g, u)
  redis.call('HSET', key, 's', s, 'g', g + 1, 'u', num(u), 'o', 0, 'k', 0)
  return g + 1
end

local function refill(key, rate, burst)
  local v = redis.call('HMGET', key, 't', 'u')
  local tokens = tonumber(v[1])
  if tokens == nil then return burst end
  return math.min(burst, tokens + math.max(0, now - tonumber(v[2])) * rate)
end

local out, k, a, n = {}, 1, 1, #ARGV
while a <= n do
  local op = ARGV[a]
  local r
  if op == 'A' then
    local bkey, rkey = KEYS[k], KEYS[k + 1]
    local probes, rate = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local burst, ttl = tonumber(ARGV[a + 3]), ARGV[a + 4]
    local count, maxwait = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]) / 1000000
    k, a = k + 2, a + 7
    local st, g, u, o = -1, 0, 0, 0
    if probes > 0 then
      st, g, u, o = breaker(rkey)
      if st == 1 and now >= u then
        g = move(rkey, 2, g, 0)
        st, o = 2, 0
      end
    end
    local passed = count
    if st == 1 then
      passed = 0
    elseif st == 2 then
      passed = math.max(0, math.min(count, probes - o))
    end
    local allowed, tokens = passed, 0
    if rate > 0 then
      tokens = refill(bkey, rate, burst)
      -- Call i (from 0) waits (i + 1 - tokens) / rate: those within maxwait are admitted.
      local fit = math.floor(tokens - 1 + maxwait * rate + 1e-9) + 1
      allowed = math.max(0, math.min(passed, fit))
      redis.call('HSET', bkey, 't', num(tokens - allowed), 'u', num(now))
      redis.call('PEXPIRE', bkey, ttl)
    end
    if st == 2 and allowed > 0 then redis.call('HSET', rkey, 'o', o + allowed) end
    r = {st, g, passed, allowed, math.floor(tokens * 1000000)}
  elseif op == 'T' or op == 'P' or op == 'R' then
    local key, gen = KEYS[k], tonumber(ARGV[a + 1])
    k = k + 1
    local st, g, u, o, ok = breaker(key)
    if op == 'T' then
      if g == gen and st == 0 then
        g = move(key, 1, g, now + tonumber(ARGV[a + 2]))
        st = 1
      end
      a = a + 3
    elseif op == 'P' then
      if g == gen and st == 2 then
        if ARGV[a + 2] == '1' then
          g = move(key, 1, g, now + tonumber(ARGV[a + 4]))
          st = 1
        elseif ok + 1 >= tonumber(ARGV[a + 3]) then
          g = move(key, 0, g, 0)
          st = 0
        else
          redis.call('HSET', key, 'k', ok + 1)
        end
      end
      a = a + 5
    else
      if g == gen and st == 2 and o > 0 then redis.call('HINCRBY', key, 'o', -1) end
      a = a + 2
    end
    r = {st, g}
  elseif op == 'S' then
    redis.call('SET', KEYS[k], ARGV[a + 2], 'PX', ARGV[a + 1])
    r = {1}
    k, a = k + 1, a + 3
  elseif op == 'C' then
    local key, rate, burst = KEYS[k], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local tokens = refill(key, rate, burst)
    local wait = 0
    if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
    redis.call('HSET', key, 't', num(tokens), 'u', num(now))
    redis.call('PEXPIRE', key, ARGV[a + 3])
    r = {math.floor(wait * 1000000)}
    k, a = k + 1, a + 4
  elseif op == 'H' then
    local key = KEYS[k]
    redis.call('ZADD', key, now, ARGV[a + 1])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - tonumber(ARGV[a + 2]))
    redis.call('EXPIRE', key, 3600)
    r = {redis.call('ZCARD', key)}
    k, a = k + 1, a + 3
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
  out[#out + 1] = r
end
return out
"""
