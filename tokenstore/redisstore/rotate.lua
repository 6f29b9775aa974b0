-- rotate.lua is server.Tokens.Rotate in one atomic step. It mirrors
-- tokenstore.Record.Rotate, which documents each rule; keep the two alike.
--
-- KEYS: the family's hash, its user's cut-off.
-- ARGV: client id, presented hash, next hash, retry, window ms, idle ms,
-- now ms, grace ms, length of the longest list of used hashes in bytes.
-- The presented hash has the length of every stored hash (32 bytes).
--
-- It returns {outcome} when the family does not exist, else {outcome,
-- fields}: the fields of the family after the call in the order of
-- redisstore's fields, then the retry.
local f = redis.call('HMGET', KEYS[1], 'client', 'scope', 'auth', 'exp', 'idle', 'rot', 'cur', 'used', 'rev', 'retry')
if not f[1] then
  return {'notfound'}
end
local client, presented, nxt, retry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local window, idle, now, grace, maxUsed =
  tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local exp = tonumber(f[4])

local function revoke(outcome)
  redis.call('HSET', KEYS[1], 'rev', '1')
  f[9] = '1'
  return {outcome, f}
end

if now >= math.min(tonumber(f[5]), exp) then
  return {'notfound', f}
end
if f[1] ~= client then
  return {'wrongclient', f}
end
if f[9] == '1' then
  return {'revoked', f}
end
local cut = tonumber(redis.call('GET', KEYS[2]) or '')
if cut and tonumber(f[3]) <= cut then
  return revoke('revoked')
end
if presented == f[7] then
  local idleEnd = math.min(now + idle, exp)
  f[5], f[6], f[7], f[8], f[10] =
    string.format('%d', idleEnd), ARGV[7], nxt, string.sub(f[7] .. f[8], 1, maxUsed), retry
  redis.call('HSET', KEYS[1], 'idle', f[5], 'rot', f[6], 'cur', f[7], 'used', f[8], 'retry', f[10])
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', idleEnd + grace))
  return {'ok', f}
end
local n = #presented
if window > 0 and string.sub(f[8], 1, n) == presented and now - tonumber(f[6]) <= window and f[10] ~= '' then
  return {'retry', f}
end
for i = 1, #f[8], n do
  if string.sub(f[8], i, i + n - 1) == presented then
    return revoke('reused')
  end
end
return {'notfound', f}
