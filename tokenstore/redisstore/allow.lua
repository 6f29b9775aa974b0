-- allow.lua is server.Throttle.Allow in one atomic step. It mirrors
-- tokenstore.Bucket.Allow, which documents each rule; keep them alike, down
-- to the order of the floating-point operations.
--
-- KEYS: the key's bucket, a hash of taken (the tokens missing, a float
-- written with 17 significant digits, which read back exactly) and at (when
-- taken was counted, unix ms).
-- ARGV: now ms, rate per second, burst, skew ms.
--
-- It returns {1, 0} if it took a token, else {0, retry ms} and changes
-- nothing. The hash expires when the bucket is full again
-- (tokenstore.Bucket.Expires) plus the skew.
local now, rate, burst, skew = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local k = redis.call('HMGET', KEYS[1], 'taken', 'at')
local taken0, at0 = tonumber(k[1]) or 0, tonumber(k[2]) or 0

-- taken is tokenstore.Bucket.taken: the tokens of t still missing d ms
-- later.
local function taken(t, d)
  return math.max(t - d * rate / 1000, 0)
end

-- wait is tokenstore.Bucket.wait: the fewest ms after which no more than
-- missing of t are missing.
local function wait(t, missing)
  local d = math.max(math.ceil((t - missing) * 1000 / rate), 0)
  while taken(t, d) > missing do
    d = d + 1
  end
  while d > 0 and taken(t, d - 1) <= missing do
    d = d - 1
  end
  return d
end

-- The decision and the retry both compare taken of the stored bucket with
-- burst - 1.
local t = taken(taken0, math.max(now - at0, 0))
if t <= burst - 1 then
  local at = math.max(at0, now)
  t = t + 1
  redis.call('HSET', KEYS[1], 'taken', string.format('%.17g', t), 'at', string.format('%d', at))
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', at + wait(t, 0) + skew))
  return {1, 0}
end
return {0, at0 + wait(taken0, burst - 1) - now}
