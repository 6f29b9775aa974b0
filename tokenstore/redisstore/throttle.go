package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"authserver/server"
	"authserver/tokenstore"
)

var _ server.Throttle = (*Store)(nil)

// ClockSkew is how long a throttle key outlives, in Redis, the time at which
// it no longer matters. Those times come from the replicas' clocks and
// Redis expires keys by its own: without this margin, a replica whose clock
// is behind Redis's would see a bucket deleted before it is full again, or
// a lockout before its end. The scripts decide by the stored times, never
// by whether Redis has deleted a key yet, so the margin changes no outcome.
const ClockSkew = 5 * time.Second

// failureFields are the fields of a key's failures in the order of
// tokenstore.Failures: Count, Last, Window, Until.
var failureFields = []string{"n", "last", "win", "until"}

var (
	//go:embed fail.lua
	failSource string
	failScript = redis.NewScript(failSource)

	//go:embed allow.lua
	allowSource string
	allowScript = redis.NewScript(allowSource)
)

// failuresKey returns the key of a throttle key's failures.
func (s *Store) failuresKey(key string) string {
	return s.prefix + "thr:{" + key + "}"
}

// bucketKey returns the key of a throttle key's token bucket.
func (s *Store) bucketKey(key string) string {
	return s.prefix + "rate:{" + key + "}"
}

// Locked returns how long key is still locked out at now and how many of
// its failures still count, with one HMGET.
func (s *Store) Locked(ctx context.Context, key string, now time.Time) (time.Duration, int, error) {
	values, err := s.rdb.HMGet(ctx, s.failuresKey(key), failureFields...).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("redisstore: failures of %s: %w", key, err)
	}
	var f tokenstore.Failures
	var count int64
	for i, field := range []*int64{&count, &f.Last, &f.Window, &f.Until} {
		v, _ := values[i].(string) // nil when the key does not exist
		if v == "" {
			continue
		}
		if *field, err = strconv.ParseInt(v, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("redisstore: failures of %s: field %s: %w", key, failureFields[i], err)
		}
	}
	f.Count = int(count)
	lockedFor, failures := f.Locked(now)
	return lockedFor, failures, nil
}

// Fail records a failure of key at now in one round trip (fail.lua).
func (s *Store) Fail(ctx context.Context, key string, now time.Time, b server.Backoff) (time.Duration, error) {
	if err := tokenstore.CheckBackoff(b); err != nil {
		return 0, fmt.Errorf("redisstore: fail %s: %w", key, err)
	}
	ms, err := failScript.Run(ctx, s.rdb, []string{s.failuresKey(key)}, tokenstore.Millis(now), b.Limit,
		b.Window.Milliseconds(), b.Base.Milliseconds(), b.Max.Milliseconds(), ClockSkew.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: fail %s: %w", key, err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Reset deletes the failures of key.
func (s *Store) Reset(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.failuresKey(key)).Err(); err != nil {
		return fmt.Errorf("redisstore: reset %s: %w", key, err)
	}
	return nil
}

// Allow takes a token from key's bucket in one round trip (allow.lua).
func (s *Store) Allow(ctx context.Context, key string, now time.Time, rate float64, burst int) (bool, time.Duration, error) {
	if err := tokenstore.CheckBucket(rate, burst); err != nil {
		return false, 0, fmt.Errorf("redisstore: allow %s: %w", key, err)
	}
	res, err := allowScript.Run(ctx, s.rdb, []string{s.bucketKey(key)}, tokenstore.Millis(now),
		strconv.FormatFloat(rate, 'g', -1, 64), burst, ClockSkew.Milliseconds()).Int64Slice()
	switch {
	case err != nil:
		return false, 0, fmt.Errorf("redisstore: allow %s: %w", key, err)
	case len(res) != 2:
		return false, 0, fmt.Errorf("redisstore: allow %s: %d results, want 2", key, len(res))
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}
