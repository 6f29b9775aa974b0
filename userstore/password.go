package userstore

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are the Argon2id cost parameters (RFC 9106 §3.1) of new hashes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams are the OWASP Password Storage Cheat Sheet's Argon2id
// parameters: 19 MiB of memory, two passes, one lane.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1}

// Lengths of the salt and key of new hashes, in bytes, and the limits beyond
// which a parameter is refused as absurd.
const (
	saltLen    = 16
	keyLen     = 32
	minSaltLen = 8 // the Argon2 reference implementation's minimum
	minKeyLen  = 16
	maxMemory  = 4 << 20 // KiB, that is 4 GiB
	maxTime    = 100
)

var b64 = base64.RawStdEncoding

// check reports parameters outside what Argon2 allows (m ≥ 8·p, RFC 9106
// §3.1) or beyond the limits a server should ever spend on one password.
func (p Params) check() error {
	switch {
	case p.Threads == 0:
		return errors.New("argon2: p must be at least 1")
	case p.Time == 0 || p.Time > maxTime:
		return fmt.Errorf("argon2: t=%d is outside 1..%d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("argon2: m=%d is outside 8·p..%d KiB", p.Memory, maxMemory)
	}
	return nil
}

// Hash returns the PHC string of an Argon2id hash of password with p, a
// random 16-byte salt and a 32-byte key.
func (p Params) Hash(password string) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	rand.Read(salt) // Read never fails since Go 1.24.
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks password against any valid PHC $argon2id$ or $argon2i$
// string whatever its parameters, salt length or key length, so that hashes
// from Python's argon2-cffi or pwdlib verify unchanged, or against a bcrypt
// hash ($2a$, $2b$, $2y$) imported from another user table. ok is the result
// of a constant-time comparison; rehash is true when ok and the hash is not
// an Argon2id hash with exactly p's parameters, salt length and key length
// (so always for bcrypt). err is non-nil only for a malformed hash or absurd
// parameters, never for a wrong password.
func (p Params) Verify(phc, password string) (ok, rehash bool, err error) {
	if isBcrypt(phc) {
		if err := validateBcrypt(phc); err != nil {
			return false, false, err
		}
		ok = bcrypt.CompareHashAndPassword([]byte(phc), []byte(password)) == nil
		return ok, ok, nil
	}
	h, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	derive := argon2.IDKey
	if h.variant == "argon2i" {
		derive = argon2.Key
	}
	key := derive([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	ok = subtle.ConstantTimeCompare(key, h.key) == 1
	rehash = ok && (h.variant != "argon2id" || h.params != p || len(h.salt) != saltLen || len(h.key) != keyLen)
	return ok, rehash, nil
}

// ValidateHash reports whether hash is a PHC string or a bcrypt hash that
// Verify accepts.
func ValidateHash(hash string) error {
	if isBcrypt(hash) {
		return validateBcrypt(hash)
	}
	_, err := parsePHC(hash)
	return err
}

// maxBcryptCost bounds the cost of an imported bcrypt hash: each step
// doubles the work of verifying it.
const maxBcryptCost = 15

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// validateBcrypt checks the form and the cost of a bcrypt hash.
func validateBcrypt(hash string) error {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || len(hash) != 60 {
		return errors.New("bcrypt: not a bcrypt hash of 60 characters")
	}
	if cost > maxBcryptCost {
		return fmt.Errorf("bcrypt: cost %d is more than %d", cost, maxBcryptCost)
	}
	return nil
}

// decoded is a parsed PHC string.
type decoded struct {
	variant   string
	params    Params
	salt, key []byte
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$key (or $argon2i$…), where
// salt and key are unpadded standard base64, as the PHC string format and
// the Argon2 reference implementation write them.
func parsePHC(phc string) (decoded, error) {
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" || (f[1] != "argon2id" && f[1] != "argon2i") {
		return decoded{}, errors.New("argon2: not an $argon2id$ or $argon2i$ PHC string with version, parameters, salt and key")
	}
	h := decoded{variant: f[1]}
	if f[2] != "v=19" {
		return decoded{}, fmt.Errorf("argon2: version %q, want v=19", f[2])
	}
	var err error
	if h.params, err = parseParams(f[3]); err != nil {
		return decoded{}, err
	}
	if h.salt, err = b64.DecodeString(f[4]); err != nil || len(h.salt) < minSaltLen {
		return decoded{}, fmt.Errorf("argon2: salt is not %d or more bytes of unpadded base64", minSaltLen)
	}
	if h.key, err = b64.DecodeString(f[5]); err != nil || len(h.key) < minKeyLen {
		return decoded{}, fmt.Errorf("argon2: key is not %d or more bytes of unpadded base64", minKeyLen)
	}
	return h, nil
}

// parseParams parses "m=M,t=T,p=P" and checks the values.
func parseParams(s string) (Params, error) {
	f := strings.Split(s, ",")
	if len(f) != 3 {
		return Params{}, fmt.Errorf("argon2: parameters %q are not m=…,t=…,p=…", s)
	}
	var v [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		value, ok := strings.CutPrefix(f[i], name)
		if !ok {
			return Params{}, fmt.Errorf("argon2: parameters %q are not m=…,t=…,p=…", s)
		}
		var err error
		if v[i], err = strconv.ParseUint(value, 10, 32); err != nil {
			return Params{}, fmt.Errorf("argon2: parameter %s: %w", f[i], err)
		}
	}
	if v[2] > 255 {
		return Params{}, fmt.Errorf("argon2: p=%d is more than 255", v[2])
	}
	p := Params{Memory: uint32(v[0]), Time: uint32(v[1]), Threads: uint8(v[2])}
	return p, p.check()
}
