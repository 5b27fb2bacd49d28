"""The Lua scripts behind :mod:`daytwo.state.redis`: each State operation is one script, so it
runs atomically on the Redis server and concurrent replicas can never interleave inside it.

Key layout under the configured prefix ``P``:

* ``P b:<line>``  hash ``sn st rn rt``: spent / reserved nano-dollars and tokens of one counter
* ``P r:<call>``  hash ``n t until exp keys``: one reservation (``keys``: its lines, one a line)
* ``P rz``        sorted set: call id by hold deadline (what :meth:`expire` scans)
* ``P q:<key>``   integer: one rate-limit window counter
* ``P l:<key>``   sorted set: lease id by expiry (concurrency)
* ``P sw``        hash: switch key -> JSON record; changes are published on channel ``P sw``
* ``P gen``       string: the generation marker, set once counters were rebuilt from the ledger
  (a Redis that lost its data lacks it: see :mod:`daytwo.state.base`)
* ``P lock:<n>``  string: a named lock (the rebuild's), with an expiry

Lua numbers are doubles: counters are exact up to 2**53 nano-dollars (~$9M) per window.
``release`` and ``expire`` reach counter keys named inside a reservation, which is fine on a
single Redis (or a primary with replicas) but not on Redis Cluster.
"""

from __future__ import annotations

_READ = """
local function neg(s)
  if s == '0' then return '0' end
  return '-' .. s
end
local function read(k)
  local v = redis.call('HMGET', k, 'sn', 'st', 'rn', 'rt')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
end
"""

# KEYS: res, zset, counter...   ARGV: n, t, until, call_id, then (cap_n, cap_t, ttl_ms) per line
RESERVE = (
    _READ
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
local n, t = tonumber(ARGV[1]), tonumber(ARGV[2])
local out, failed = {}, 0
for i = 3, #KEYS do
  local sn, st, rn, rt = read(KEYS[i])
  local a = 5 + (i - 3) * 3
  local capn, capt = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  if failed == 0 and ((capn and sn + rn + n > capn) or (capt and st + rt + t > capt)) then
    failed = i - 2
  end
  table.insert(out, sn) table.insert(out, st) table.insert(out, rn) table.insert(out, rt)
end
if failed > 0 then
  table.insert(out, 1, failed) table.insert(out, 1, 0)
  return out
end
out = {1, 0}
local names = {}
for i = 3, #KEYS do
  local a = 5 + (i - 3) * 3
  local rn = redis.call('HINCRBY', KEYS[i], 'rn', ARGV[1])
  local rt = redis.call('HINCRBY', KEYS[i], 'rt', ARGV[2])
  redis.call('PEXPIRE', KEYS[i], ARGV[a + 2])
  local sn, st = read(KEYS[i])
  table.insert(out, sn) table.insert(out, st) table.insert(out, rn) table.insert(out, rt)
  table.insert(names, KEYS[i])
end
redis.call('HSET', KEYS[1], 'n', ARGV[1], 't', ARGV[2], 'until', ARGV[3], 'exp', 0,
           'keys', table.concat(names, '\\n'))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return out
"""
)

# KEYS: res, zset, counter...   ARGV: n, t, call_id, then ttl_ms per line
SETTLE = (
    _READ
    + """
local r = redis.call('HMGET', KEYS[1], 'n', 't', 'exp')
local out = {}
if not r[1] then
  out = {0, 0}
  for i = 3, #KEYS do
    local sn, st, rn, rt = read(KEYS[i])
    table.insert(out, sn) table.insert(out, st) table.insert(out, rn) table.insert(out, rt)
  end
  return out
end
local held = r[3] == '0'
out = {1, held and 1 or 0}
for i = 3, #KEYS do
  if held then
    redis.call('HINCRBY', KEYS[i], 'rn', neg(r[1]))
    redis.call('HINCRBY', KEYS[i], 'rt', neg(r[2]))
  end
  redis.call('HINCRBY', KEYS[i], 'sn', ARGV[1])
  redis.call('HINCRBY', KEYS[i], 'st', ARGV[2])
  redis.call('PEXPIRE', KEYS[i], ARGV[3 + i - 2])
  local sn, st, rn, rt = read(KEYS[i])
  table.insert(out, sn) table.insert(out, st) table.insert(out, rn) table.insert(out, rt)
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
return out
"""
)

_UNRESERVE = """
local function unreserve(res)
  local r = redis.call('HMGET', res, 'n', 't', 'keys')
  for k in string.gmatch(r[3], '[^\\n]+') do
    local dn, dt = '-' .. r[1], '-' .. r[2]
    if r[1] == '0' then dn = '0' end
    if r[2] == '0' then dt = '0' end
    redis.call('HINCRBY', k, 'rn', dn)
    redis.call('HINCRBY', k, 'rt', dt)
  end
end
"""

# KEYS: res, zset   ARGV: call_id
RELEASE = (
    _UNRESERVE
    + """
local exp = redis.call('HGET', KEYS[1], 'exp')
if not exp then return -1 end
if exp == '0' then unreserve(KEYS[1]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return tonumber(exp)
"""
)

# KEYS: zset   ARGV: now, res-key prefix, keep_ms (how long an expired record waits for settle)
EXPIRE = (
    _UNRESERVE
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, id in ipairs(ids) do
  local res = ARGV[2] .. id
  if redis.call('HGET', res, 'exp') == '0' then
    unreserve(res)
    redis.call('HSET', res, 'exp', 1)
    redis.call('PEXPIRE', res, ARGV[3])
  end
  redis.call('ZREM', KEYS[1], id)
end
return #ids
"""
)

# KEYS: counter   ARGV: n, t, ttl_ms
ADD_SPEND = (
    _READ
    + """
redis.call('HINCRBY', KEYS[1], 'sn', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'st', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local sn, st, rn, rt = read(KEYS[1])
return {sn, st, rn, rt}
"""
)

# KEYS: rate counters   ARGV: (limit, amount, ttl_ms) per key
HIT = """
local found, failed = {}, 0
for i = 1, #KEYS do
  local v = tonumber(redis.call('GET', KEYS[i])) or 0
  if failed == 0 and v + tonumber(ARGV[i * 3 - 1]) > tonumber(ARGV[i * 3 - 2]) then
    failed = i
  end
  found[i] = v
end
if failed > 0 then
  table.insert(found, 1, failed) table.insert(found, 1, 0)
  return found
end
local out = {1, 0}
for i = 1, #KEYS do
  table.insert(out, redis.call('INCRBY', KEYS[i], ARGV[i * 3 - 1]))
  redis.call('PEXPIRE', KEYS[i], ARGV[i * 3])
end
return out
"""

# KEYS: counter   ARGV: delta, ttl_ms
ADJUST = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return v
"""

# KEYS: lease sets   ARGV: now, expires_at, lease_id, ttl_ms, then limit per key
LEASE_ACQUIRE = """
local counts, failed = {}, 0
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
  local c = redis.call('ZCARD', KEYS[i])
  if failed == 0 and c + 1 > tonumber(ARGV[4 + i]) then failed = i end
  counts[i] = c
end
if failed > 0 then
  table.insert(counts, 1, failed) table.insert(counts, 1, 0)
  return counts
end
local out = {1, 0}
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
  table.insert(out, redis.call('ZCARD', KEYS[i]))
end
return out
"""

# KEYS: switches hash   ARGV: channel, key, json ('' = clear)
SWITCH = """
local had
if ARGV[3] == '' then
  had = redis.call('HDEL', KEYS[1], ARGV[2])
else
  had = 1 - redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
redis.call('PUBLISH', ARGV[1], cjson.encode({key = ARGV[2], record = ARGV[3]}))
return had
"""

# One call's admission: budget lines + rate lines + leases, all-or-nothing.
# KEYS: res, zset, budget counters (nb), rate counters (nr), lease sets (nl)[, generation]
# ARGV: nb, nr, nl, n, t, until, call_id, now, lease_exp, lease_ttl_ms,
#       then (cap_n, cap_t, ttl_ms) per budget line, (limit, amount, ttl_ms) per rate line,
#       limit per lease
# Returns {ok, stage (1 budget, 2 rate, 3 lease), failed, 4 values per budget line...,
#          rate values..., lease counts...}; {-2} when the generation key is given and missing
# (the store lost its counters: nothing may be admitted until they are rebuilt).
ADMIT = (
    _READ
    + """
local nb, nr, nl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if #KEYS > 2 + nb + nr + nl and redis.call('EXISTS', KEYS[#KEYS]) == 0 then return {-2} end
if nb > 0 and redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
local n, t = tonumber(ARGV[4]), tonumber(ARGV[5])
local stage, failed = 0, 0
local bc, rv, lc = {}, {}, {}
local a = 11
for i = 1, nb do
  local sn, st, rn, rt = read(KEYS[2 + i])
  local capn, capt = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  if failed == 0 and ((capn and sn + rn + n > capn) or (capt and st + rt + t > capt)) then
    stage, failed = 1, i
  end
  bc[#bc + 1] = sn bc[#bc + 1] = st bc[#bc + 1] = rn bc[#bc + 1] = rt
  a = a + 3
end
for i = 1, nr do
  local v = tonumber(redis.call('GET', KEYS[2 + nb + i])) or 0
  if failed == 0 and v + tonumber(ARGV[a + 1]) > tonumber(ARGV[a]) then stage, failed = 2, i end
  rv[i] = v
  a = a + 3
end
for i = 1, nl do
  local k = KEYS[2 + nb + nr + i]
  redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[8])
  local c = redis.call('ZCARD', k)
  if failed == 0 and c + 1 > tonumber(ARGV[a]) then stage, failed = 3, i end
  lc[i] = c
  a = a + 1
end
local out = {0, stage, failed}
if failed == 0 then
  out = {1, 0, 0}
  bc = {}
  a = 11
  for i = 1, nb do
    local k = KEYS[2 + i]
    redis.call('HINCRBY', k, 'rn', ARGV[4])
    redis.call('HINCRBY', k, 'rt', ARGV[5])
    redis.call('PEXPIRE', k, ARGV[a + 2])
    local sn, st, rn, rt = read(k)
    bc[#bc + 1] = sn bc[#bc + 1] = st bc[#bc + 1] = rn bc[#bc + 1] = rt
    a = a + 3
  end
  for i = 1, nr do
    local k = KEYS[2 + nb + i]
    rv[i] = redis.call('INCRBY', k, ARGV[a + 1])
    redis.call('PEXPIRE', k, ARGV[a + 2])
    a = a + 3
  end
  for i = 1, nl do
    local k = KEYS[2 + nb + nr + i]
    redis.call('ZADD', k, ARGV[9], ARGV[7])
    redis.call('PEXPIRE', k, ARGV[10])
    lc[i] = redis.call('ZCARD', k)
  end
  if nb > 0 then
    local names = {}
    for i = 1, nb do names[i] = KEYS[2 + i] end
    redis.call('HSET', KEYS[1], 'n', ARGV[4], 't', ARGV[5], 'until', ARGV[6], 'exp', 0,
               'keys', table.concat(names, '\\n'))
    redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
  end
end
for _, v in ipairs(bc) do out[#out + 1] = v end
for _, v in ipairs(rv) do out[#out + 1] = v end
for _, v in ipairs(lc) do out[#out + 1] = v end
return out
"""
)

# One call's end: settle (spent = 1) or release the reservation, adjust rate counters, give back
# the leases.
# KEYS: res, zset, budget counters (nb), adjusted counters (na), lease sets (nl)
# ARGV: nb, na, nl, n, t, spent, call_id, adjust_ttl_ms, then ttl_ms per budget line,
#       delta per adjusted counter
# Returns {applied, held, 4 values per budget line...}
FINISH = (
    _READ
    + """
local nb, na, nl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {0, 0}
if nb > 0 then
  local r = redis.call('HMGET', KEYS[1], 'n', 't', 'exp')
  if r[1] then
    local held = r[3] == '0'
    out = {1, held and 1 or 0}
    for i = 1, nb do
      local k = KEYS[2 + i]
      if held then
        redis.call('HINCRBY', k, 'rn', neg(r[1]))
        redis.call('HINCRBY', k, 'rt', neg(r[2]))
      end
      if ARGV[6] == '1' then
        redis.call('HINCRBY', k, 'sn', ARGV[4])
        redis.call('HINCRBY', k, 'st', ARGV[5])
        redis.call('PEXPIRE', k, ARGV[8 + i])
      end
    end
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], ARGV[7])
  end
  for i = 1, nb do
    local sn, st, rn, rt = read(KEYS[2 + i])
    out[#out + 1] = sn out[#out + 1] = st out[#out + 1] = rn out[#out + 1] = rt
  end
end
for i = 1, na do
  local k = KEYS[2 + nb + i]
  redis.call('INCRBY', k, ARGV[8 + nb + i])
  redis.call('PEXPIRE', k, ARGV[8])
end
for i = 1, nl do
  redis.call('ZREM', KEYS[2 + nb + na + i], ARGV[7])
end
return out
"""
)

# The switches, unless the generation marker is missing ({0}: the store lost its data, so an
# empty hash would wrongly revive every switch). KEYS: switches hash, generation
SWITCHES = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
return {1, redis.call('HGETALL', KEYS[1])}
"""

# Counters re-counted from the ledger, written with SET semantics (idempotent), unless a
# generation is already set (another replica finished the rebuild first: write nothing).
# KEYS: generation, budget counters (nb), rate counters   ARGV: nb, then (sn, st, ttl_ms) per
# budget counter, (value, ttl_ms) per rate counter. Reservations (rn, rt) are left as found.
RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local nb = tonumber(ARGV[1])
local a = 2
for i = 1, nb do
  local k = KEYS[1 + i]
  redis.call('HSET', k, 'sn', ARGV[a], 'st', ARGV[a + 1])
  redis.call('PEXPIRE', k, ARGV[a + 2])
  a = a + 3
end
for i = 2 + nb, #KEYS do
  redis.call('SET', KEYS[i], ARGV[a], 'PX', ARGV[a + 1])
  a = a + 2
end
return 1
"""

# KEYS: lock   ARGV: token. Deletes the lock only if this token still holds it.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
