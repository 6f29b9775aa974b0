package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"authserver/keys"
	"authserver/server"
	"authserver/userstore"
)

// envPrefix starts the environment variable of every setting: --data-dir is
// also AUTHSERVER_DATA_DIR. A flag given on the command line wins.
const envPrefix = "AUTHSERVER_"

// Config holds the settings every subcommand reads.
type Config struct {
	DataDir     string
	DatabaseURL string
	// NoMigrate, DBMaxConns and DBConnLifetime govern the database.
	NoMigrate      bool
	DBMaxConns     int
	DBConnLifetime time.Duration
	RedisURL       string
	Issuer         string
	Addr           string
	AccessTokenTTL time.Duration
	// RefreshIdle, RefreshLifetime and RefreshRetryWindow govern refresh
	// tokens: see server.Config.
	RefreshIdle        time.Duration
	RefreshLifetime    time.Duration
	RefreshRetryWindow time.Duration
	MetricsAddr        string
	PprofAddr          string
	MetricsPerClient   bool
	LogFormat          string
	Argon2             userstore.Params
	NoBootstrap        bool
	// KeyRotationPeriod, JWKSMaxAge, KeyPollInterval and RSABits govern the
	// signing keys: see keys.Policy.
	KeyRotationPeriod time.Duration
	JWKSMaxAge        time.Duration
	KeyPollInterval   time.Duration
	RSABits           int
	// HashConcurrency and HashQueueTimeout bound the Argon2id computations
	// of logins.
	HashConcurrency  int
	HashQueueTimeout time.Duration
	// Lockout is the back-off of failed logins and client authentications;
	// IPRate and IPBurst limit token requests per client address.
	Lockout server.Backoff
	IPRate  float64
	IPBurst int
	// CORSOrigins and TrustedProxies: see server.Config.
	CORSOrigins    list
	TrustedProxies list
	// KeyEncryptionKey is the base64 key-encryption key from the
	// environment only (kekEnv): a flag would show it in process lists.
	KeyEncryptionKey string
}

// kekEnv is the environment variable of the key-encryption key.
const kekEnv = envPrefix + "KEY_ENCRYPTION_KEY"

// defaults returns the configuration used when nothing is set.
func defaults() Config {
	return Config{
		DataDir:           "./authserver-data",
		Issuer:            "http://localhost:8080",
		Addr:              ":8080",
		AccessTokenTTL:    15 * time.Minute,
		RefreshIdle:       14 * day,
		RefreshLifetime:   90 * day,
		MetricsAddr:       "127.0.0.1:9464",
		MetricsPerClient:  true,
		LogFormat:         "json",
		Argon2:            userstore.DefaultParams,
		KeyRotationPeriod: 30 * day,
		JWKSMaxAge:        15 * time.Minute,
		KeyPollInterval:   30 * time.Second,
		RSABits:           2048,
		HashConcurrency:   runtime.NumCPU(),
		HashQueueTimeout:  2 * time.Second,
		DBMaxConns:        20,
		DBConnLifetime:    30 * time.Minute,
		Lockout:           server.Backoff{Limit: 5, Window: 30 * time.Minute, Base: time.Minute, Max: 15 * time.Minute},
		IPRate:            50,
		IPBurst:           100,
	}
}

// register adds the settings to fs.
func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded database and the signing keys")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "database: empty for a SQLite file in the data dir, sqlite:PATH, or postgres://…")
	fs.BoolVar(&c.NoMigrate, "no-migrate", c.NoMigrate, "do not apply database migrations at start (run authserver migrate instead)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", c.DBMaxConns, "PostgreSQL: the most connections of the pool")
	fs.Var((*duration)(&c.DBConnLifetime), "db-conn-lifetime", "PostgreSQL: how long a connection lives before it is replaced")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "token store: empty for the embedded one")
	fs.StringVar(&c.Issuer, "issuer", c.Issuer, "issuer URL: the iss claim and the base of every endpoint URL")
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address of the HTTP server")
	fs.Var((*duration)(&c.AccessTokenTTL), "access-token-ttl", "lifetime of access tokens")
	fs.Var((*duration)(&c.RefreshIdle), "refresh-idle", "a refresh token family ends when unused this long")
	fs.Var((*duration)(&c.RefreshLifetime), "refresh-lifetime", "a refresh token family ends this long after the login, however used")
	fs.Var((*duration)(&c.RefreshRetryWindow), "refresh-retry-window", "how long the previous refresh token may be replayed for the same successor (0: off)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "listen address of /metrics (empty: no metrics listener)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "listen address of the Go profiler (/debug/pprof/); empty: off")
	fs.BoolVar(&c.MetricsPerClient, "metrics-per-client", c.MetricsPerClient, "label token request metrics with the client id (false for fleets with very many clients)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: json or text")
	fs.Var((*duration)(&c.KeyRotationPeriod), "key-rotation-period", "how long a signing key signs before the next one takes over")
	fs.Var((*duration)(&c.JWKSMaxAge), "jwks-max-age", "Cache-Control max-age of the JWKS; a new key is published this long (plus the poll interval and a minute) before it signs")
	fs.Var((*duration)(&c.KeyPollInterval), "key-poll-interval", "how often a replica performs due key transitions and picks up those of others")
	fs.IntVar(&c.RSABits, "rsa-bits", c.RSABits, "modulus size of new RSA signing keys: 2048, 3072 or 4096")
	fs.IntVar(&c.HashConcurrency, "hash-concurrency", c.HashConcurrency, "Argon2id computations of logins at once (each holds --argon2-memory)")
	fs.Var((*duration)(&c.HashQueueTimeout), "hash-queue-timeout", "how long a login waits for a hashing slot before 503")
	fs.IntVar(&c.Lockout.Limit, "lockout-after", c.Lockout.Limit, "failed logins (per account) or client authentications (per client) before a lockout")
	fs.Var((*duration)(&c.Lockout.Window), "lockout-window", "failures further apart than this are not counted together")
	fs.Var((*duration)(&c.Lockout.Base), "lockout-base", "the first lockout; each further failure doubles it")
	fs.Var((*duration)(&c.Lockout.Max), "lockout-max", "the longest lockout")
	fs.Float64Var(&c.IPRate, "ip-rate-limit", c.IPRate, "token requests per second per client address (0: no limit)")
	fs.IntVar(&c.IPBurst, "ip-rate-burst", c.IPBurst, "token requests one client address may make at once")
	fs.Var(&c.CORSOrigins, "cors-origins", "origins (scheme://host[:port]) whose browser clients may call the endpoints, comma-separated (default: none)")
	fs.Var(&c.TrustedProxies, "trusted-proxies", "networks (CIDR) of reverse proxies whose X-Forwarded-For is believed, comma-separated")
	fs.Func("argon2-memory", fmt.Sprintf("Argon2id memory of new password hashes, KiB (default %d)", c.Argon2.Memory), uintSetter(&c.Argon2.Memory))
	fs.Func("argon2-time", fmt.Sprintf("Argon2id passes of new password hashes (default %d)", c.Argon2.Time), uintSetter(&c.Argon2.Time))
	fs.Func("argon2-threads", fmt.Sprintf("Argon2id parallelism of new password hashes (default %d)", c.Argon2.Threads), func(s string) error {
		var v uint32
		if err := uintSetter(&v)(s); err != nil || v > 255 {
			return errors.New("want an integer from 1 to 255")
		}
		c.Argon2.Threads = uint8(v)
		return nil
	})
	fs.BoolVar(&c.NoBootstrap, "no-bootstrap", c.NoBootstrap, "do not create a demo client and an admin user on first start")
}

func uintSetter(p *uint32) func(string) error {
	return func(s string) error {
		var v uint32
		if _, err := fmt.Sscan(s, &v); err != nil {
			return errors.New("want a non-negative integer")
		}
		*p = v
		return nil
	}
}

// settingNames are the flags that the environment may set.
var settingNames = func() map[string]bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c := defaults()
	c.register(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}()

// applyEnv sets every setting not given on the command line from its
// AUTHSERVER_* environment variable.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if !settingNames[f.Name] || given[f.Name] {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Validate reports every invalid setting at once.
func (c *Config) Validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	u, err := url.Parse(c.Issuer)
	check(err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/"),
		"--issuer %q: want an absolute http or https URL without query, fragment or trailing slash (RFC 8414 §2)", c.Issuer)
	check(c.DataDir == "", "--data-dir is empty")
	check(c.LogFormat != "json" && c.LogFormat != "text", "--log-format %q: want json or text", c.LogFormat)
	check(c.Lockout.Limit < 1 || c.Lockout.Limit > 1000, "--lockout-after %d: want from 1 to 1000", c.Lockout.Limit)
	check(c.Lockout.Window < time.Second || c.Lockout.Base < time.Second || c.Lockout.Max < c.Lockout.Base || c.Lockout.Max > 24*time.Hour,
		"--lockout-window, --lockout-base, --lockout-max: want at least 1s each, and base ≤ max ≤ 24h")
	check(c.IPRate < 0 || (c.IPRate > 0 && c.IPBurst < 1), "--ip-rate-limit %v, --ip-rate-burst %d: want a rate ≥ 0 and, with a rate, a burst ≥ 1", c.IPRate, c.IPBurst)
	check(c.HashConcurrency < 1 || c.HashConcurrency > 1024, "--hash-concurrency %d: want from 1 to 1024", c.HashConcurrency)
	check(c.HashQueueTimeout < 0 || c.HashQueueTimeout > time.Minute, "--hash-queue-timeout %v: want from 0 to 1m", c.HashQueueTimeout)
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		check(err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "",
			"--cors-origins %q: want scheme://host[:port]", o)
	}
	_, err = c.proxies()
	check(err != nil, "--trusted-proxies: %v", err)
	check(c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !c.postgres(),
		"--database-url: want empty, sqlite:PATH or postgres://… (the password goes in the URL or in PGPASSWORD)")
	check(c.DatabaseURL == "sqlite:", "--database-url: sqlite: needs a path")
	check(c.postgres() && c.RedisURL == "", "--redis-url is required with PostgreSQL: the embedded token store lives in SQLite")
	check(c.DBMaxConns < 1 || c.DBMaxConns > 1000, "--db-max-conns %d: want from 1 to 1000", c.DBMaxConns)
	check(c.DBConnLifetime < time.Minute, "--db-conn-lifetime %v: want at least 1m", c.DBConnLifetime)
	if c.RedisURL != "" {
		_, err := redisConnector(c.RedisURL)
		check(err != nil, "--redis-url: %v", err)
	}
	check(c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > 24*time.Hour, "--access-token-ttl %v: want from 1m to 24h", c.AccessTokenTTL)
	check(c.RefreshLifetime < time.Hour || c.RefreshLifetime > 366*day, "--refresh-lifetime %v: want from 1h to 366d", c.RefreshLifetime)
	check(c.RefreshIdle < time.Minute || c.RefreshIdle > c.RefreshLifetime, "--refresh-idle %v: want from 1m to --refresh-lifetime", c.RefreshIdle)
	check(c.RefreshRetryWindow < 0 || c.RefreshRetryWindow > 5*time.Minute, "--refresh-retry-window %v: want from 0 (off) to 5m", c.RefreshRetryWindow)
	check(c.Argon2.Memory < 8*uint32(c.Argon2.Threads) || c.Argon2.Memory > 4<<20, "--argon2-memory %d: want from 8×threads to 4194304 KiB", c.Argon2.Memory)
	check(c.Argon2.Time < 1 || c.Argon2.Time > 100, "--argon2-time %d: want from 1 to 100", c.Argon2.Time)
	check(c.Argon2.Threads < 1, "--argon2-threads: want from 1 to 255")
	check(c.JWKSMaxAge < time.Second || c.JWKSMaxAge > 24*time.Hour || c.JWKSMaxAge%time.Second != 0, "--jwks-max-age %v: want whole seconds from 1s to 24h", c.JWKSMaxAge)
	check(c.KeyPollInterval < 100*time.Millisecond || c.KeyPollInterval > 10*time.Minute, "--key-poll-interval %v: want from 100ms to 10m", c.KeyPollInterval)
	if err := c.keyPolicy().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--key-rotation-period, --jwks-max-age, --rsa-bits: %w", err))
	}
	if c.KeyEncryptionKey != "" {
		_, err := c.kek()
		check(err != nil, "%s: %v", kekEnv, err)
	}
	return errors.Join(errs...)
}

// proxies parses --trusted-proxies.
func (c *Config) proxies() ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, p := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR network", p)
		}
		ps = append(ps, prefix.Masked())
	}
	return ps, nil
}

// logger returns the logger of the configuration, writing to w.
func (c *Config) logger(w io.Writer) *slog.Logger {
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// postgres reports whether the database is PostgreSQL.
func (c *Config) postgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// databasePath is the SQLite file the configuration names.
func (c *Config) databasePath() string {
	if p, ok := strings.CutPrefix(c.DatabaseURL, "sqlite:"); ok {
		return p
	}
	return filepath.Join(c.DataDir, "authserver.db")
}

// maxKeyMargin bounds the margin added to the publication lead of a new
// key (the margin is the JWKS max-age itself when that is shorter), and
// clockSkew is added to the retention of a retired one.
const (
	maxKeyMargin = time.Minute
	clockSkew    = time.Minute
)

// keyPolicy is the signing-key lifecycle of the configuration: a new key is
// published a JWKS max-age plus a poll interval plus a margin (a minute, or
// the max-age if shorter) before it signs; a retired key stays an access-token lifetime plus clock skew plus
// a poll interval (a replica that has not polled yet may still sign with
// it).
func (c *Config) keyPolicy() keys.Policy {
	return keys.Policy{
		Period:  c.KeyRotationPeriod,
		Publish: c.JWKSMaxAge + c.KeyPollInterval + min(maxKeyMargin, c.JWKSMaxAge),
		Retain:  c.AccessTokenTTL + clockSkew + c.KeyPollInterval,
		RSABits: c.RSABits,
	}
}

// kek decodes the key-encryption key of the environment: 32 bytes in
// standard or URL-safe base64.
func (c *Config) kek() ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(c.KeyEncryptionKey); err == nil && len(k) == keys.KEKSize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes in base64 (openssl rand -base64 32)", keys.KEKSize)
}

// ensureDataDir creates the data directory, readable by its owner only.
func (c *Config) ensureDataDir() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// day is 24 hours, the unit of the "d" suffix of duration settings.
const day = 24 * time.Hour

// duration is a flag value that takes Go durations ("15m", "1h30m") and
// whole days ("14d").
type duration time.Duration

func (d *duration) String() string {
	if *d != 0 && time.Duration(*d)%day == 0 {
		return fmt.Sprintf("%dd", time.Duration(*d)/day)
	}
	return time.Duration(*d).String()
}

func (d *duration) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days uint
		if _, err := fmt.Sscan(n, &days); err != nil || fmt.Sprint(days) != n {
			return errors.New("want a duration like 15m, 1h30m or 14d")
		}
		*d = duration(time.Duration(days) * day)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration like 15m, 1h30m or 14d")
	}
	*d = duration(v)
	return nil
}
