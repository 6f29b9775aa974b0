-- fail.lua is server.Throttle.Fail in one atomic step. It mirrors
-- tokenstore.Failures.Fail and tokenstore.Lockout, which document each rule;
-- keep them alike.
--
-- KEYS: the key's failures, a hash of n (the count of the chain), last (the
-- latest failure, unix ms), win (its window, ms) and until (the end of the
-- lockout, unix ms; 0 for none).
-- ARGV: now ms, limit, window ms, base ms, max ms, skew ms.
--
-- It returns how long the key is locked out from now on, in ms. The hash
-- expires at tokenstore.Failures.Expires plus the skew.
local now, limit, window, base, most, skew =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local f = redis.call('HMGET', KEYS[1], 'n', 'last', 'win', 'until')
local n, last, win, untl = tonumber(f[1]) or 0, tonumber(f[2]) or 0, tonumber(f[3]) or 0, tonumber(f[4]) or 0

-- A record at or past its expiry is none, whether Redis has deleted it yet
-- or not.
if now >= math.max(last + win + 1, untl) then
  n, last, win, untl = 0, 0, 0, 0
end
if n > 0 and now - last > window then
  n = 0
end
n = n + 1
last = math.max(last, now)
win = window
local lock = 0
if n >= limit then
  lock = base
  for _ = 1, n - limit do
    if lock >= most then
      break
    end
    lock = lock * 2
  end
  lock = math.min(lock, most)
end
if lock > 0 then
  untl = math.max(untl, now + lock)
end

redis.call('HSET', KEYS[1], 'n', string.format('%d', n), 'last', string.format('%d', last),
  'win', string.format('%d', win), 'until', string.format('%d', untl))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', math.max(last + win + 1, untl) + skew))
return math.max(untl - now, 0)
