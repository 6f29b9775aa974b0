package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"authserver/keys"
	"authserver/userstore"
)

func init() {
	commands["keys list"] = &command{usage: "keys list", setup: noFlags(func(e *env) error {
		return withKeys(e, func(m *keys.Manager) error {
			if err := m.Load(e.ctx); err != nil {
				return err
			}
			infos := m.Current().List()
			return table(e.stdout, []string{"KID", "ALG", "STATE", "CREATED", "ACTIVATES", "ACTIVATED", "RETIRED", "REMOVED AT"}, len(infos), func(i int) []any {
				k := infos[i]
				return []any{k.KID, k.Alg, k.State, when(k.Created), when(k.ActivateAt), when(k.Activated), when(k.Retired), when(k.RemoveAt)}
			})
		})
	})}
	commands["keys rotate"] = &command{
		usage: "keys rotate [--alg RS256|EdDSA]",
		setup: func(fs *flag.FlagSet) func(*env) error {
			alg := fs.String("alg", "", "rotate only the keys of this algorithm (default: both)")
			return func(e *env) error {
				algs := []string{keys.RS256, keys.EdDSA}
				if *alg != "" {
					algs = []string{*alg}
				}
				return withKeys(e, func(m *keys.Manager) error {
					events, err := m.Rotate(e.ctx, algs...)
					if err != nil {
						return err
					}
					if len(events) == 0 {
						fmt.Fprintln(e.stdout, "the next keys already activate as early as they safely can")
					}
					for _, ev := range events {
						fmt.Fprintln(e.stdout, ev)
					}
					return nil
				})
			}
		},
	}
}

// when formats a transition time; "-" for one that has not happened.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// withKeys runs do with the key manager of the configuration.
func withKeys(e *env, do func(*keys.Manager) error) error {
	return withUsers(e, func(s *userstore.Store) error {
		m, err := keyManager(e, s, e.cfg.logger(e.stderr))
		if err != nil {
			return err
		}
		return do(m)
	})
}

// keyManager returns the manager of the key set in store.
func keyManager(e *env, store *userstore.Store, log *slog.Logger) (*keys.Manager, error) {
	kek, err := keyEncryptionKey(e, store, log)
	if err != nil {
		return nil, err
	}
	return keys.NewManager(store, kek, e.cfg.keyPolicy(), time.Now)
}

// kekFile is the file of the generated key-encryption key in the data dir.
const kekFile = "key-encryption-key"

// keyEncryptionKey returns the key-encryption key: AUTHSERVER_KEY_ENCRYPTION_KEY,
// or else the one in the data dir, which is generated (mode 0600, with a
// warning) while no key set exists. A key set with no key to open it is an
// error, never a reason to generate a new set.
func keyEncryptionKey(e *env, store keys.Store, log *slog.Logger) ([]byte, error) {
	if e.cfg.KeyEncryptionKey != "" {
		return e.cfg.kek()
	}
	if e.cfg.postgres() {
		return nil, fmt.Errorf("%s is required with PostgreSQL: every replica must seal and open the keys with the same key", kekEnv)
	}
	path := filepath.Join(e.cfg.DataDir, kekFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != keys.KEKSize {
			return nil, fmt.Errorf("%s does not hold a base64 key of %d bytes", path, keys.KEKSize)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	version, _, err := store.LoadKeySet(e.ctx)
	if err != nil {
		return nil, err
	}
	if version != 0 {
		return nil, fmt.Errorf("the signing keys are sealed, and there is no key-encryption key to open them: set %s or restore %s", kekEnv, path)
	}
	k := make([]byte, keys.KEKSize)
	rand.Read(k)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	log.Warn("generated a key-encryption key for the signing keys; in production set "+kekEnv+" from a secret store instead", "path", path)
	return k, nil
}
