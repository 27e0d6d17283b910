-- One batch of the cleanup job: one SCAN step and the judgment of its keys, all
-- server-side, so a batch costs one round trip and the keys never cross the network.
-- ARGV[1]: the SCAN cursor; ARGV[2]: SCAN COUNT;
-- ARGV[3]: rules JSON, a list of {prefix, ttl, on_no_ttl, max_ttl, parent_prefix}
--          (from bootstrap/redisdb/keys.py); ARGV[4]: "1" = dry run (change nothing);
-- ARGV[5]: "1" = also return every action as {key, action}.
-- Returns JSON: {cursor = "...", scanned = n, seen = {prefix = n},
--                actions = {prefix = {action = n}}, unknown = n, gone = n,
--                detail = {{key, action}, ...}}
-- Keys come from SCAN, and parents (a checkpoint's session) are derived, so none
-- is declared in KEYS: this job targets a standalone Redis, as bo1-infra deploys it.
local step = redis.call('SCAN', ARGV[1], 'COUNT', ARGV[2])
local rules = cjson.decode(ARGV[3])
local dry = ARGV[4] == '1'
local verbose = ARGV[5] == '1'
local seen, actions, detail = {}, {}, {}
local unknown, gone = 0, 0

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
      local action = nil
      if rule.parent_prefix ~= cjson.null then
        local id = string.match(string.sub(key, #rule.prefix + 1), '^(.+):[^:]*$')
        if id and redis.call('EXISTS', rule.parent_prefix .. id) == 0 then action = 'delete_orphan' end
      end
      if not action and ttl == -1 then
        if rule.on_no_ttl == 'delete' then action = 'delete_no_ttl' else action = 'expire' end
      end
      if not action and rule.max_ttl ~= cjson.null and ttl > rule.max_ttl then action = 'delete_long_ttl' end
      if action then
        count(rule, action, key)
        if not dry then
          if action == 'expire' then redis.call('EXPIRE', key, rule.ttl) else redis.call('UNLINK', key) end
        end
      end
    end
  end
end
return cjson.encode({cursor = step[1], scanned = #step[2], seen = seen, actions = actions,
                     unknown = unknown, gone = gone, detail = detail})
