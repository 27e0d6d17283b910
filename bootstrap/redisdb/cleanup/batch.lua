-- One batch of the cleanup job: one SCAN step and the judgment of its keys, all
-- server-side, so a batch costs one round trip and the keys never cross the network.
-- ARGV[1]: the SCAN cursor; ARGV[2]: SCAN COUNT;
-- ARGV[3]: rules JSON, a list of {prefix, ttl, on_no_ttl, max_ttl, parent_prefix, thread,
--          anchor = {before, after}: a thread's anchor key is before .. thread .. after}
--          (from bootstrap/redisdb/keys.py); ARGV[4]: "1" = dry run (change nothing);
-- ARGV[5]: "1" = also return every action as {key, action}.
-- Returns JSON: {cursor = "...", scanned = n, seen = {prefix = n},
--                actions = {prefix = {action = n}}, unknown = n, gone = n,
--                detail = {{key, action}, ...}}
-- A key's id is the first segment after its prefix. A thread key (LangGraph) is never
-- deleted: it gets the expiry of its thread's anchor (THREAD_ANCHOR in keys.py)
-- when that is later, so a thread's keys expire together, never the history first.
-- Keys come from SCAN, and parents and anchors are derived, so none is declared in
-- KEYS: this job targets a standalone Redis, as bo1-infra deploys it.
local step = redis.call('SCAN', ARGV[1], 'COUNT', ARGV[2])
local rules = cjson.decode(ARGV[3])
local dry = ARGV[4] == '1'
local verbose = ARGV[5] == '1'
local seen, actions, detail = {}, {}, {}
local unknown, gone = 0, 0
-- A thread key expiring up to a minute before its anchor is left alone: batches of one
-- run read the clock at different moments, and a minute is nothing against days.
local ALIGN_SLACK_MS = 60000
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function rule_for(key)
  for _, rule in ipairs(rules) do
    if string.sub(key, 1, #rule.prefix) == rule.prefix then return rule end
  end
  return nil
end

local function count(rule, action, key)
  local per = actions[rule.prefix] or {}
  per[action] = (per[action] or 0) + 1
  actions[rule.prefix] = per
  if verbose then detail[#detail + 1] = {key, action} end
end

for _, key in ipairs(step[2]) do
  local rule = rule_for(key)
  if not rule then
    unknown = unknown + 1  -- never touched
  else
    local ttl = redis.call('TTL', key)
    if ttl == -2 then
      gone = gone + 1  -- expired or deleted since SCAN returned it
    else
      seen[rule.prefix] = (seen[rule.prefix] or 0) + 1
      local id = string.match(string.sub(key, #rule.prefix + 1), '^([^:]+)')
      local action, expire_at = nil, nil
      if rule.thread then
        -- The anchor's expiry as this run leaves it: an anchor without a TTL gets one now,
        -- so a dry run and a real run judge its siblings alike.
        local anchor_at = -1
        local anchor = id and (rule.anchor[1] .. id .. rule.anchor[2])
        if anchor and anchor ~= key then
          anchor_at = redis.call('PEXPIRETIME', anchor)
          if anchor_at == -1 then anchor_at = now_ms + rule.ttl * 1000 end
        end
        local own_at = redis.call('PEXPIRETIME', key)
        if ttl == -1 then
          action, expire_at = 'expire', math.max(now_ms + rule.ttl * 1000, anchor_at)
        elseif anchor_at > own_at + ALIGN_SLACK_MS then
          action, expire_at = 'align_thread', anchor_at
        end
      else
        if rule.parent_prefix ~= cjson.null and id
            and redis.call('EXISTS', rule.parent_prefix .. id) == 0 then
          action = 'delete_orphan'
        end
        if not action and ttl == -1 then
          if rule.on_no_ttl == 'delete' then action = 'delete_no_ttl'
          else action, expire_at = 'expire', now_ms + rule.ttl * 1000 end
        end
        if not action and rule.max_ttl ~= cjson.null and ttl > rule.max_ttl then
          action = 'delete_long_ttl'
        end
      end
      if action then
        count(rule, action, key)
        if not dry then
          if expire_at then redis.call('PEXPIREAT', key, expire_at) else redis.call('UNLINK', key) end
        end
      end
    end
  end
end
return cjson.encode({cursor = step[1], scanned = #step[2], seen = seen, actions = actions,
                     unknown = unknown, gone = gone, detail = detail})
