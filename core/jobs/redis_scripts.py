"""The Redis job queue's Lua scripts: every change of a job is one script, so it is atomic.

Keys, all under a prefix ``P`` (``gluon:jobs``):

- ``P:job:<id>``      hash: kind, payload, key, priority, state, tries, token, ready_at,
                      worker, entry (its stream entry while it has one), leased_until,
                      lease_ms, error, seq, enqueued_at, updated_at
- ``P:key:<key>``     the id of the job enqueued under an idempotency key (``SET NX``)

A job done or dead is kept :data:`KEEP_SECONDS` (its hash and its idempotency key expire then),
and the indexes lose the ids of jobs gone, the oldest first, as later jobs end; ``P:dead`` keeps
about the last :data:`DEAD_KEPT` deaths. So a queue whose jobs each have a key of their own
does not grow for ever.
- ``P:stream:<prio>`` one stream per priority in use, each with the consumer group; an entry
                      is a ready job, pending (in the group's PEL) while a worker holds it
- ``P:priorities``    sorted set of the priorities in use, scanned highest first
- ``P:delayed``       sorted set of jobs not yet due (``not_before``, retries), by due time
- ``P:lease:<id>``    the lease: its fencing token, expiring with the lease (``PX``)
- ``P:state:<state>`` sorted sets of job ids by enqueue order, and ``P:all``, for ``list``
- ``P:dead``          the dead-letter stream: job id and error, one entry per dead job
- ``P:seq``           enqueue counter

Every script gets ``ARGV[1]`` = prefix and ``ARGV[2]`` = consumer group; the keys are built in
the scripts, so this needs a single Redis (not Redis Cluster). Times are the caller's clock in
seconds (``not_before``, ``ready_at``, ``leased_until``); lease lengths are milliseconds of
Redis' own clock (``PX``, idle times).
"""

from __future__ import annotations

KEEP_SECONDS = 7 * 86400
"""How long a job done or dead (and its idempotency key) is kept."""
DEAD_KEPT = 1000

_PRELUDE = f"""
local KEEP, DEAD_KEPT = {KEEP_SECONDS}, {DEAD_KEPT}
""" + """
local P, GROUP = ARGV[1], ARGV[2]
local function job_key(id) return P .. ':job:' .. id end
local function stream_key(prio) return P .. ':stream:' .. prio end
local function lease_key(id) return P .. ':lease:' .. id end
local function set_state(id, job, new)
  local old = redis.call('HGET', job, 'state')
  if old then redis.call('ZREM', P .. ':state:' .. old, id) end
  redis.call('ZADD', P .. ':state:' .. new, redis.call('HGET', job, 'seq'), id)
  redis.call('HSET', job, 'state', new)
end
-- The entry of a leased job leaves its stream (and the PEL) and the lease key goes.
local function release(id, job)
  local h = redis.call('HMGET', job, 'priority', 'entry')
  redis.call('XACK', stream_key(h[1]), GROUP, h[2])
  redis.call('XDEL', stream_key(h[1]), h[2])
  redis.call('DEL', lease_key(id))
  redis.call('HSET', job, 'entry', '', 'leased_until', '')
end
-- A job done or dead is kept a while, with its key; the ids of jobs gone since leave the
-- indexes (the oldest few, each time a job ends).
local function retire(job)
  redis.call('EXPIRE', job, KEEP)
  local key = redis.call('HGET', job, 'key')
  if key and key ~= '' then redis.call('EXPIRE', P .. ':key:' .. key, KEEP) end
  for _, index in ipairs({P .. ':state:done', P .. ':state:dead', P .. ':all'}) do
    for _, old in ipairs(redis.call('ZRANGE', index, 0, 9)) do
      if redis.call('EXISTS', job_key(old)) == 0 then redis.call('ZREM', index, old) end
    end
  end
end
local function bury(id, job, error, now)
  release(id, job)
  redis.call('HSET', job, 'error', error, 'updated_at', now)
  set_state(id, job, 'dead')
  redis.call('XADD', P .. ':dead', 'MAXLEN', '~', DEAD_KEPT, '*', 'job', id, 'error', error)
  retire(job)
end
-- Whether the lease with this token is the job's newest (the fence).
local function holds(job, token)
  local h = redis.call('HMGET', job, 'state', 'token')
  return h[1] == 'leased' and h[2] == token
end
"""

# ARGV: 3 id, 4 kind, 5 payload, 6 key ('' for none), 7 priority, 8 now, 9 ready_at
ENQUEUE = _PRELUDE + """
local id, key, prio, now, ready = ARGV[3], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if key ~= '' then
  local kk = P .. ':key:' .. key
  if not redis.call('SET', kk, id, 'NX') then return redis.call('GET', kk) end
end
local job = job_key(id)
local seq = redis.call('INCR', P .. ':seq')
redis.call('HSET', job, 'kind', ARGV[4], 'payload', ARGV[5], 'key', key, 'priority', prio,
           'ready_at', ready, 'tries', 0, 'token', 0, 'seq', seq, 'worker', '',
           'leased_until', '', 'entry', '', 'enqueued_at', now, 'updated_at', now)
set_state(id, job, 'queued')
redis.call('ZADD', P .. ':all', seq, id)
if redis.call('ZADD', P .. ':priorities', prio, prio) == 1 then
  redis.pcall('XGROUP', 'CREATE', stream_key(prio), GROUP, '0', 'MKSTREAM')
end
if tonumber(ready) > tonumber(now) then
  redis.call('ZADD', P .. ':delayed', ready, id)
else
  redis.call('HSET', job, 'entry', redis.call('XADD', stream_key(prio), '*', 'job', id))
end
return id
"""

# ARGV: 3 worker, 4 now, 5 lease_ms, 6 leased_until, 7 max_tries
# Returns {id, token, tries, kind, payload, priority}, or false when nothing is ready.
CLAIM = _PRELUDE + """
local worker, now, lease_ms, max_tries = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[7])
-- Jobs that came due join the back of their priority's stream.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':delayed', '-inf', now, 'LIMIT', 0, 100)) do
  local job = job_key(id)
  local entry = redis.call('XADD', stream_key(redis.call('HGET', job, 'priority')), '*', 'job', id)
  redis.call('HSET', job, 'entry', entry)
  redis.call('ZREM', P .. ':delayed', id)
end
local function grant(id, stream, entry)
  local job = job_key(id)
  local token = redis.call('HINCRBY', job, 'token', 1)
  local tries = redis.call('HINCRBY', job, 'tries', 1)
  redis.call('HSET', job, 'worker', worker, 'entry', entry, 'leased_until', ARGV[6],
             'lease_ms', lease_ms, 'updated_at', now)
  set_state(id, job, 'leased')
  redis.call('SET', lease_key(id), token, 'PX', lease_ms)
  local h = redis.call('HMGET', job, 'kind', 'payload', 'priority')
  return {id, token, tries, h[1], h[2], h[3]}
end
for _, prio in ipairs(redis.call('ZREVRANGE', P .. ':priorities', 0, -1)) do
  local stream = stream_key(prio)
  -- Leased entries idle (not renewed) for our lease length; they were ready before any new one.
  -- One at a time: XAUTOCLAIM takes every entry it returns (and resets its idle time), so a
  -- second one returned with the one granted would wait out another lease.
  local cursor = '0-0'
  repeat
    local res = redis.call('XAUTOCLAIM', stream, GROUP, worker, lease_ms, cursor, 'COUNT', 1)
    cursor = res[1]
    for _, e in ipairs(res[2]) do
      local entry, id = e[1], e[2][2]
      local job = job_key(id)
      local left = redis.call('PTTL', lease_key(id))
      if left > 0 then
        -- Its holder took a longer lease than ours and it has not run out: hand it back, as
        -- idle as it was, so it is found again when that lease runs out.
        local h = redis.call('HMGET', job, 'worker', 'lease_ms')
        redis.call('XCLAIM', stream, GROUP, h[1], 0, entry,
                   'IDLE', math.max(tonumber(h[2]) - left, 0), 'JUSTID')
      elseif tonumber(redis.call('HGET', job, 'tries')) >= max_tries then
        local h = redis.call('HMGET', job, 'worker', 'tries')
        bury(id, job, "the lease of worker '" .. h[1] .. "' ran out on try " .. h[2]
             .. ' (the worker died or hung)', now)
      else
        return grant(id, stream, entry)
      end
    end
  until cursor == '0-0'
  -- New entries; one left behind by a job moved to another priority is dropped.
  while true do
    local got = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', 1, 'STREAMS', stream,
                           '>')
    if not (got and got[1][2][1]) then break end
    local e = got[1][2][1]
    local current = redis.call('HGET', job_key(e[2][2]), 'entry')
    if current == e[1] or current == '' then return grant(e[2][2], stream, e[1]) end
    redis.call('XACK', stream, GROUP, e[1])
    redis.call('XDEL', stream, e[1])
  end
end
return false
"""

# ARGV: 3 id, 4 priority, 5 now. Returns 'moved', 'same', the job's state when it is not
# queued, or false when there is no such job.
# A queued job not yet due is in P:delayed and only changes its priority; a ready one (an entry
# in its priority's stream, unread or released) moves to the back of the new priority's stream.
REPRIORITIZE = _PRELUDE + """
local id, prio, now = ARGV[3], ARGV[4], ARGV[5]
local job = job_key(id)
local h = redis.call('HMGET', job, 'state', 'priority', 'entry', 'ready_at')
if not h[1] then return false end
if h[1] ~= 'queued' then return h[1] end
if h[2] == prio then return 'same' end
if redis.call('ZADD', P .. ':priorities', prio, prio) == 1 then
  redis.pcall('XGROUP', 'CREATE', stream_key(prio), GROUP, '0', 'MKSTREAM')
end
redis.call('HSET', job, 'priority', prio, 'updated_at', now)
if tonumber(h[4]) < tonumber(now) then redis.call('HSET', job, 'ready_at', now) end
if redis.call('ZSCORE', P .. ':delayed', id) then return 'moved' end
if h[3] ~= '' then
  redis.call('XACK', stream_key(h[2]), GROUP, h[3])
  redis.call('XDEL', stream_key(h[2]), h[3])
end
redis.call('HSET', job, 'entry', redis.call('XADD', stream_key(prio), '*', 'job', id))
return 'moved'
"""

# ARGV: 3 id, 4 token, 5 now, 6 lease_ms, 7 leased_until. Returns 1, or 0 when stale.
RENEW = _PRELUDE + """
local id, token = ARGV[3], ARGV[4]
local job = job_key(id)
if not holds(job, token) then return 0 end
local h = redis.call('HMGET', job, 'priority', 'entry', 'worker')
redis.call('SET', lease_key(id), token, 'PX', ARGV[6])
redis.call('XCLAIM', stream_key(h[1]), GROUP, h[3], 0, h[2], 'JUSTID')  -- idle from now
redis.call('HSET', job, 'leased_until', ARGV[7], 'lease_ms', ARGV[6], 'updated_at', ARGV[5])
return 1
"""

# ARGV: 3 id, 4 token, 5 now. Returns 1, or 0 when stale.
ACK = _PRELUDE + """
local id, token = ARGV[3], ARGV[4]
local job = job_key(id)
if not holds(job, token) then return 0 end
release(id, job)
redis.call('HSET', job, 'updated_at', ARGV[5])
set_state(id, job, 'done')
retire(job)
return 1
"""

# An entry made this idle is taken over by the next claim, whatever lease length it uses.
_LONG_IDLE = "1000000000000"

# ARGV: 3 id, 4 token, 5 now. Returns 1, or 0 when stale.
# The entry stays pending (so it keeps its place before newer entries) but made idle, without
# its lease key: the next claim takes it over with XAUTOCLAIM, and its try is given back.
RELEASE = _PRELUDE + """
local id, token = ARGV[3], ARGV[4]
local job = job_key(id)
if not holds(job, token) then return 0 end
local h = redis.call('HMGET', job, 'priority', 'entry', 'worker')
redis.call('DEL', lease_key(id))
redis.call('XCLAIM', stream_key(h[1]), GROUP, h[3], 0, h[2], 'IDLE', """ + _LONG_IDLE + """,
           'JUSTID')
redis.call('HINCRBY', job, 'tries', -1)
redis.call('HSET', job, 'leased_until', '', 'updated_at', ARGV[5])
set_state(id, job, 'queued')
return 1
"""

# ARGV: 3 worker prefix, 4 now. Returns how many leases ran out.
EXPIRE = _PRELUDE + """
local prefix, now, count = ARGV[3], ARGV[4], 0
for _, id in ipairs(redis.call('ZRANGE', P .. ':state:leased', 0, -1)) do
  local job = job_key(id)
  local h = redis.call('HMGET', job, 'priority', 'entry', 'worker')
  if h[3] and string.sub(h[3], 1, #prefix) == prefix then
    redis.call('DEL', lease_key(id))
    redis.call('XCLAIM', stream_key(h[1]), GROUP, h[3], 0, h[2], 'IDLE', """ + _LONG_IDLE + """,
               'JUSTID')
    redis.call('HSET', job, 'leased_until', now, 'updated_at', now)
    count = count + 1
  end
end
return count
"""

# ARGV: 3 id, 4 token, 5 now, 6 error, 7 '1' when dead, 8 retry_at. Returns 1, or 0 when stale.
FAIL = _PRELUDE + """
local id, token, now, error = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local job = job_key(id)
if not holds(job, token) then return 0 end
if ARGV[7] == '1' then
  bury(id, job, error, now)
else
  release(id, job)
  redis.call('HSET', job, 'error', error, 'ready_at', ARGV[8], 'updated_at', now)
  set_state(id, job, 'queued')
  redis.call('ZADD', P .. ':delayed', ARGV[8], id)
end
return 1
"""
