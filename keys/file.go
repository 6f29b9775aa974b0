package keys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// fileVersion is the version of the key file format.
const fileVersion = 1

// keyFile is the JSON form of the key file.
type keyFile struct {
	Version int         `json:"version"`
	Keys    []keyRecord `json:"keys"`
}

// keyRecord is one key in the key file; JWK holds the private key (RFC 7517
// §4, RFC 7518 §6.3.2, RFC 8037 §2).
type keyRecord struct {
	KID     string          `json:"kid"`
	Alg     string          `json:"alg"`
	State   string          `json:"state"`
	Created time.Time       `json:"created"`
	JWK     json.RawMessage `json:"jwk"`
}

// Open loads the key file at path, or, when the file does not exist,
// generates one RS256 (RSA 2048) and one EdDSA key, writes them with mode
// 0600 and returns them. now is the creation time. A file that exists but
// cannot be parsed, is open to group or others, or lacks a key of either
// algorithm is an error, never a reason to generate new keys.
func Open(path string, now time.Time) (*Set, error) {
	s, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if s, err = create(path, now); err != nil {
		return nil, fmt.Errorf("keys: create key file %s: %w", path, err)
	}
	return s, nil
}

// create generates a key of each algorithm and writes them to a new key file.
func create(path string, now time.Time) (*Set, error) {
	created := now.UTC().Truncate(time.Second)
	ks := make([]*key, len(algs))
	for i, alg := range algs {
		k, err := generate(alg, created)
		if err != nil {
			return nil, err
		}
		ks[i] = k
	}
	s, err := newSet(ks)
	if err != nil {
		return nil, err
	}
	data, err := s.marshal()
	if err != nil {
		return nil, err
	}
	if err := writeFile(path, data); err != nil {
		return nil, err
	}
	return s, nil
}

// Load reads the existing key file at path without generating anything. A
// missing file is an error wrapping fs.ErrNotExist.
func Load(path string) (*Set, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	s, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("keys: key file %s: %w", path, err)
	}
	return s, nil
}

// readFile reads the key file after checking that only its owner may access
// it.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: open key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: open key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: key file %s has mode %04o and is open to group or others; restrict it with chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("keys: read key file: %w", err)
	}
	return data, nil
}

// parse decodes a key file and checks each key against its kid.
func parse(data []byte) (*Set, error) {
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if kf.Version != fileVersion {
		return nil, fmt.Errorf("unsupported version %d, want %d", kf.Version, fileVersion)
	}
	ks := make([]*key, len(kf.Keys))
	for i, r := range kf.Keys {
		k, err := parseKey(r)
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, r.KID, err)
		}
		ks[i] = k
	}
	return newSet(ks)
}

// parseKey decodes the private JWK of r as a key of r.Alg and checks that
// r.KID is its thumbprint.
func parseKey(r keyRecord) (*key, error) {
	priv, err := jwk.ParseKey(r.JWK)
	if err != nil {
		return nil, fmt.Errorf("decode JWK: %w", err)
	}
	var signer crypto.Signer
	switch r.Alg {
	case rs256:
		k := new(rsa.PrivateKey)
		if err := priv.Raw(k); err != nil {
			return nil, fmt.Errorf("not an RSA private key: %w", err)
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("invalid RSA private key: %w", err)
		}
		if n := k.N.BitLen(); n < rsaBits {
			return nil, fmt.Errorf("RSA key has %d bits, fewer than %d", n, rsaBits)
		}
		k.Precompute()
		signer = k
	case eddsa:
		var k ed25519.PrivateKey
		if err := priv.Raw(&k); err != nil {
			return nil, fmt.Errorf("not an Ed25519 private key: %w", err)
		}
		signer = k
	default:
		return nil, fmt.Errorf("unsupported alg %q", r.Alg)
	}
	k, err := newKey(r.Alg, signer, r.State, r.Created.UTC())
	if err != nil {
		return nil, err
	}
	if k.KID != r.KID {
		return nil, fmt.Errorf("kid is not the key's thumbprint %s", k.KID)
	}
	return k, nil
}

// marshal encodes the set as a key file.
func (s *Set) marshal() ([]byte, error) {
	kf := keyFile{Version: fileVersion, Keys: make([]keyRecord, len(s.keys))}
	for i, k := range s.keys {
		priv, err := jwk.FromRaw(k.signer)
		if err != nil {
			return nil, fmt.Errorf("private JWK of key %s: %w", k.KID, err)
		}
		b, err := json.Marshal(priv)
		if err != nil {
			return nil, fmt.Errorf("encode key %s: %w", k.KID, err)
		}
		kf.Keys[i] = keyRecord{KID: k.KID, Alg: k.Alg, State: k.State, Created: k.Created, JWK: b}
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode key file: %w", err)
	}
	return data, nil
}

// writeFile replaces the file at path with data atomically: it writes a
// temporary file of mode 0600 in the same directory (created with mode 0700
// if missing), syncs it, renames it over path and syncs the directory.
func writeFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replace key file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
