package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"authserver/server"
	"authserver/tokenstore/redisstore"
	"authserver/tokenstore/sqlstore"
	"authserver/userstore"
)

// grace is how long token-store records outlive their end: an access token
// issued at the last moment of a family is still checked against it.
func (c *Config) grace() time.Duration { return c.AccessTokenTTL + clockSkew }

// stores are the opened user and token stores of a command.
type stores struct {
	users  *userstore.Store
	tokens interface {
		server.Tokens
		server.Throttle
	}
	// backend names the token store in metrics: "sqlite" or "redis".
	backend string
	// checks are the readiness checks of the stores.
	checks []server.Check
	// purge deletes expired token records; nil where the store expires
	// them by itself (Redis).
	purge  func(now time.Time) error
	closer []io.Closer
}

func (s *stores) Close() error {
	var errs []error
	for i := len(s.closer) - 1; i >= 0; i-- {
		errs = append(errs, s.closer[i].Close())
	}
	return errors.Join(errs...)
}

// openStores opens the user store, then the token store that --redis-url
// names: Redis, or the embedded one in the user store's database.
func openStores(e *env) (*stores, error) {
	users, err := openUsers(e)
	if err != nil {
		return nil, err
	}
	s := &stores{users: users, closer: []io.Closer{users}, checks: []server.Check{{Name: "database", Run: users.Ping}}}
	if e.cfg.RedisURL == "" {
		sql := sqlstore.New(users.DB(), sqlstore.Options{Grace: e.cfg.grace()})
		s.tokens, s.backend = sql, "sqlite"
		s.purge = func(now time.Time) error {
			_, err := sql.Purge(e.ctx, now)
			return err
		}
		return s, nil
	}
	connect, err := redisConnector(e.cfg.RedisURL)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	rdb := connect()
	s.closer = append(s.closer, rdb)
	s.tokens, s.backend = redisstore.New(rdb, redisstore.Options{Grace: e.cfg.grace()}), "redis"
	s.checks = append(s.checks, server.Check{Name: "redis", Run: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	return s, nil
}

// Short Redis timeouts, unless the URL sets its own: a request fails closed
// with 503 quickly when Redis is down, instead of hanging.
var redisTimeouts = map[string]string{"dial_timeout": "2s", "read_timeout": "1s", "write_timeout": "1s"}

// redisConnector parses a --redis-url and returns what connects to it:
// redis:// or rediss:// for one server, redis+sentinel:// (master_name, and
// further sentinels as addr parameters) or redis+cluster:// (further nodes
// as addr parameters), each also with TLS as rediss+…://. Options are
// go-redis URL parameters.
func redisConnector(raw string) (func() redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	base, kind, _ := strings.Cut(u.Scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("scheme %q: want redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
	}
	u.Scheme = base
	q := u.Query()
	for k, v := range redisTimeouts {
		if !q.Has(k) {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	switch kind {
	case "":
		opt, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, err
		}
		return func() redis.UniversalClient { return redis.NewClient(opt) }, nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, err
		}
		if opt.MasterName == "" {
			return nil, errors.New("a sentinel URL needs master_name")
		}
		return func() redis.UniversalClient { return redis.NewFailoverClient(opt) }, nil
	case "cluster":
		opt, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, err
		}
		return func() redis.UniversalClient { return redis.NewClusterClient(opt) }, nil
	}
	return nil, fmt.Errorf("scheme %q: want redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
}
