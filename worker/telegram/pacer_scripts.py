"""The pacer's Lua scripts: run atomically inside Redis, on Redis' own clock (see docs/fleet.md).

Times are whole microseconds of Redis' TIME. Lua 5.1 numbers are doubles, exact for integers up to
2^53 (year 2255 in microseconds); they are formatted with %.0f because Lua's own tostring keeps only
14 digits, which would move a reservation by up to a few hundred microseconds.
"""

from __future__ import annotations

KEYS_PER_PAIR = 5  # chat budget, group budget, bot budget, chat closure, bot closure

# KEYS: KEYS_PER_PAIR keys per candidate pair, in the order above.
# ARGV: reservation id; limit and window (µs) of the chat, group and bot budgets (limit 0: not
# enforced, but still recorded so the tie-break knows when a bot was last used); the lead (µs):
# the reserved time is at least now + lead, when the message will reach Telegram at the soonest;
# then one flag per pair, "1" when its chat is a group, supergroup or channel.
# Returns {pair index (1-based), reserved time, now}.
TAKE = """
local function s(x) return string.format('%.0f', x) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local member = ARGV[1]
local limits = {tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[6])}
local windows = {tonumber(ARGV[3]), tonumber(ARGV[5]), tonumber(ARGV[7])}
local lead = tonumber(ARGV[8])
local pairs_count = #KEYS / 5

local loaded = {}
local function entries(key, window)
  if loaded[key] == nil then
    -- An entry at or before now - window can no longer limit any time from now on.
    redis.call('ZREMRANGEBYSCORE', key, '-inf', s(now - window))
    local raw = redis.call('ZRANGEBYSCORE', key, '-inf', '+inf', 'WITHSCORES')
    local scores = {}
    for i = 2, #raw, 2 do scores[#scores + 1] = tonumber(raw[i]) end
    loaded[key] = scores
  end
  return loaded[key]
end

local function closed_until(key)
  local value = redis.call('GET', key)
  if value then return tonumber(value) end
  return 0
end

local function last(scores)
  if #scores == 0 then return 0 end
  return scores[#scores]
end

local function applies(budget, pair)
  return budget ~= 2 or ARGV[8 + pair] == '1'
end

local best, best_at, best_bot, best_chat
for pair = 1, pairs_count do
  local base = (pair - 1) * 5
  -- A time t is refused by a budget when t and `limit` reserved entries would fall within one
  -- window: for every run a[k]..a[k+limit-1], t must not lie in (a[k+limit-1] - w, a[k] + w).
  local refused = {}
  for budget = 1, 3 do
    local limit, window = limits[budget], windows[budget]
    if limit > 0 and applies(budget, pair) then
      local a = entries(KEYS[base + budget], window)
      for k = 1, #a - limit + 1 do
        refused[#refused + 1] = {a[k + limit - 1] - window, a[k] + window}
      end
    end
  end
  local at = math.max(now + lead, closed_until(KEYS[base + 4]), closed_until(KEYS[base + 5]))
  table.sort(refused, function(x, y) return x[1] < y[1] end)
  for _, span in ipairs(refused) do
    if span[1] >= at then break end
    if span[2] > at then at = span[2] end
  end
  local bot_used = last(entries(KEYS[base + 3], windows[3]))
  local chat_used = last(entries(KEYS[base + 1], windows[1]))
  if best == nil or at < best_at or (at == best_at and (bot_used < best_bot or
      (bot_used == best_bot and chat_used < best_chat))) then
    best, best_at, best_bot, best_chat = pair, at, bot_used, chat_used
  end
end

local base = (best - 1) * 5
for budget = 1, 3 do
  if applies(budget, best) then
    local key = KEYS[base + budget]
    local newest = math.max(best_at, last(entries(key, windows[budget])))
    redis.call('ZADD', key, s(best_at), member)
    -- The key is useless once its newest entry left the window: let Redis drop it then.
    redis.call('PEXPIRE', key, s(math.ceil((newest + windows[budget] - now) / 1000) + 1000))
  end
end
return {best, s(best_at), s(now)}
"""

# KEYS: the chat, group and bot budget keys of a reservation's pair. ARGV: reservation id, the
# margin (µs), then the three budgets' windows (µs). A message Telegram has answered was counted
# before now: its entry moves to now - margin (the windows are widened by the margin, so the next
# message's slot is at least one unwidened window after now). Only an entry still held moves
# (ZADD XX): a released slot stays released. Returns the entry's new time.
LAND = """
local function s(x) return string.format('%.0f', x) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local at = now - tonumber(ARGV[2])
for budget = 1, 3 do
  local key = KEYS[budget]
  if redis.call('ZSCORE', key, ARGV[1]) then
    redis.call('ZADD', key, 'XX', s(at), ARGV[1])
    local keep = math.ceil((at + tonumber(ARGV[2 + budget]) - now) / 1000) + 1000
    if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, s(keep)) end
  end
end
return s(at)
"""

# KEYS[1]: the closure key. ARGV[1]: the closure's length in µs.
# A closure only grows: a shorter retry_after seen later must not reopen a closed chat.
# Returns the closure's end.
CLOSE = """
local function s(x) return string.format('%.0f', x) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local ends = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > ends then ends = current end
redis.call('SET', KEYS[1], s(ends), 'PX', s(math.ceil((ends - now) / 1000) + 1000))
return s(ends)
"""
