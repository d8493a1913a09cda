-- The fleet rate budget of airflow-provider-inventory, run atomically by Redis (EVALSHA).
--
-- Every time is the Redis server's clock (TIME), never a host's: hosts' clocks differ, and since
-- Redis 5 scripts replicate by their effects, so TIME followed by writes is safe.
--
-- ARGV[1] is the operation:
--
-- acquire: KEYS = hold, last send, then one sorted set per window (send times as scores).
--   ARGV = 'acquire', spacing (s), window margin (s), grace (s), member id,
--          then limit, interval (s) for each window, in the order of the window keys.
--   Checks the hold, the even spacing after the fleet's last send and every window at once.
--   When nothing is in the way, commits the send to every window (and as the last send) and
--   returns {'0', sends in the first window}; otherwise commits nothing and returns
--   {wait in seconds, sends in the first window}. Numbers come back as strings (a Lua number
--   would be truncated to an integer in the reply).
--
-- hold: KEYS = hold. ARGV = 'hold', seconds. Every acquire waits until now + seconds (a later
--   hold already set stays).
--
-- forget: KEYS = a key. ARGV = 'forget', value. Deletes the key if it still holds value.

local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

if op == 'acquire' then
  local spacing = tonumber(ARGV[2])
  local margin = tonumber(ARGV[3])
  local grace = tonumber(ARGV[4])
  local member = ARGV[5]
  local wait = 0
  local hold = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
  if hold - now > wait then wait = hold - now end
  local last = tonumber(redis.call('GET', KEYS[2]) or '')
  if last ~= nil and last + spacing - now > wait then wait = last + spacing - now end
  local longest = 0
  local first_count = 0
  for i = 3, #KEYS do
    local limit = tonumber(ARGV[6 + 2 * (i - 3)])
    local interval = tonumber(ARGV[7 + 2 * (i - 3)])
    if interval > longest then longest = interval end
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. tostring(now - interval - margin))
    local count = redis.call('ZCARD', KEYS[i])
    if i == 3 then first_count = count end
    if count >= limit then
      -- The send `limit` sends ago must have left this window (margin for time in transit).
      local oldest = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
      local boundary = tonumber(oldest[2]) + interval + margin
      if boundary - now > wait then wait = boundary - now end
    end
  end
  if wait > 0 then
    return {string.format('%.6f', wait), tostring(first_count)}
  end
  -- Record the send at the slot it waited for when it woke at most `grace` late (so a loaded
  -- host does not slow the fleet's cadence); after an idle spell, at now.
  local at = now
  if last ~= nil and last + spacing >= now - grace and last + spacing < now then
    at = last + spacing
  end
  local keep = math.ceil((longest + margin) * 1000) + 1000
  local stamp = string.format('%.6f', at)
  for i = 3, #KEYS do
    redis.call('ZADD', KEYS[i], stamp, stamp .. ':' .. member)
    redis.call('PEXPIRE', KEYS[i], keep)
  end
  redis.call('SET', KEYS[2], stamp, 'PX', keep)
  return {'0', tostring(first_count + 1)}
elseif op == 'hold' then
  local seconds = tonumber(ARGV[2])
  local hold = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
  if now + seconds > hold then
    redis.call('SET', KEYS[1], string.format('%.6f', now + seconds), 'PX', math.ceil(seconds * 1000) + 1000)
  end
  return 'OK'
elseif op == 'forget' then
  if redis.call('GET', KEYS[1]) == ARGV[2] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
return redis.error_reply('unknown operation ' .. tostring(op))
