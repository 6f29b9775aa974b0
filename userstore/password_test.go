package userstore

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// cheap keeps Argon2 fast, for the race detector.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

// reference is the Argon2id hash of "password" with salt "somesalt",
// m=65536, t=2, p=1, as the Argon2 reference implementation prints it.
const reference = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"

// phc formats a PHC string.
func phc(variant string, p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$%s$v=19$m=%d,t=%d,p=%d$%s$%s", variant, p.Memory, p.Time, p.Threads, b64(salt), b64(key))
}

// derive returns the PHC string of password hashed with cheap, a salt of
// saltLen bytes and a key of keyLen bytes.
func derive(variant, password string, saltLen, keyLen int) string {
	salt := make([]byte, saltLen)
	f := argon2.IDKey
	if variant == "argon2i" {
		f = argon2.Key
	}
	return phc(variant, cheap, salt, f([]byte(password), salt, cheap.Time, cheap.Memory, cheap.Threads, uint32(keyLen)))
}

func TestVerify(t *testing.T) {
	own, err := cheap.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, phc, password string
		p                   Params
		ok, rehash          bool
	}{
		{"reference vector", reference, "password", DefaultParams, true, true},
		{"reference vector, wrong password", reference, "passwordx", DefaultParams, false, false},
		{"reference vector, its own params", reference, "password", Params{Memory: 65536, Time: 2, Threads: 1}, true, true},
		{"argon2i", derive("argon2i", "pw", 16, 32), "pw", cheap, true, true},
		{"argon2i, wrong password", derive("argon2i", "pw", 16, 32), "pW", cheap, false, false},
		{"Hash round trip", own, "pw", cheap, true, false},
		{"Hash round trip, wrong password", own, "pw ", cheap, false, false},
		{"Hash round trip, empty password", own, "", cheap, false, false},
		{"other params", own, "pw", Params{Memory: 128, Time: 1, Threads: 1}, true, true},
		{"8-byte salt", derive("argon2id", "pw", 8, 32), "pw", cheap, true, true},
		{"16-byte key", derive("argon2id", "pw", 16, 16), "pw", cheap, true, true},
		{"64-byte key", derive("argon2id", "pw", 16, 64), "pw", cheap, true, true},
		{"16-byte salt and 32-byte key", derive("argon2id", "pw", 16, 32), "pw", cheap, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := tt.p.Verify(tt.phc, tt.password)
			if ok != tt.ok || rehash != tt.rehash || err != nil {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.ok, tt.rehash)
			}
		})
	}
}

// malformed are strings that Verify and ValidateHash refuse.
var malformed = map[string]string{
	"empty":                   "",
	"bcrypt, truncated":       "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMU",
	"bcrypt, cost 31":         "$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
	"argon2d":                 "$argon2d$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"no leading $":            "argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"no version":              "$argon2id$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"no key":                  "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ",
	"empty key":               "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$",
	"extra field":             "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc$x",
	"v=16":                    "$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"m=0":                     "$argon2id$v=19$m=0,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"m below 8p":              "$argon2id$v=19$m=15,t=1,p=2$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"m above 4 GiB":           "$argon2id$v=19$m=4194305,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"m=+64":                   "$argon2id$v=19$m=+64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"t=0":                     "$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"t=101":                   "$argon2id$v=19$m=64,t=101,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"p=0":                     "$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"p=256":                   "$argon2id$v=19$m=4096,t=1,p=256$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"parameters out of order": "$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"missing parameter":       "$argon2id$v=19$m=64,t=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"extra parameter":         "$argon2id$v=19$m=64,t=1,p=1,keyid=x$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"bad base64 salt":         "$argon2id$v=19$m=64,t=1,p=1$c29tZX!hbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"padded salt":             "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"bad base64 key":          "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRP*c",
	"7-byte salt":             "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	"15-byte key":             "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm",
}

func TestVerifyRefusesMalformed(t *testing.T) {
	for name, s := range malformed {
		t.Run(name, func(t *testing.T) {
			if err := ValidateHash(s); err == nil {
				t.Error("ValidateHash accepted it")
			}
			if ok, rehash, err := DefaultParams.Verify(s, "password"); ok || rehash || err == nil {
				t.Errorf("Verify = %v, %v, %v; want an error", ok, rehash, err)
			}
		})
	}
}

func TestValidateHashAcceptsLimits(t *testing.T) {
	for _, params := range []string{"m=4194304,t=100,p=1", "m=2040,t=1,p=255", "m=8,t=1,p=1"} {
		s := "$argon2id$v=19$" + params + "$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
		if err := ValidateHash(s); err != nil {
			t.Errorf("ValidateHash(%s) = %v", params, err)
		}
	}
}

func TestHash(t *testing.T) {
	format := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	a, err := DefaultParams.Hash("pw")
	if err != nil || !format.MatchString(a) {
		t.Errorf("Hash = %s, %v; want the PHC format of OWASP parameters, 16-byte salt, 32-byte key", a, err)
	}
	if b, _ := DefaultParams.Hash("pw"); b == a {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashRefusesAbsurdParams(t *testing.T) {
	for _, p := range []Params{
		{},
		{Memory: 64, Time: 0, Threads: 1},
		{Memory: 64, Time: 101, Threads: 1},
		{Memory: 64, Time: 1, Threads: 0},
		{Memory: 7, Time: 1, Threads: 1},
		{Memory: 4<<20 + 1, Time: 1, Threads: 1},
	} {
		if h, err := p.Hash("pw"); err == nil {
			t.Errorf("%+v.Hash = %s, want an error", p, h)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(reference, "password")
	f.Add(derive("argon2id", "pw", 16, 32), "pw")
	f.Add(derive("argon2i", "pw", 8, 16), "pw")
	for _, s := range malformed {
		f.Add(s, "pw")
	}
	f.Fuzz(func(t *testing.T, s, password string) {
		h, parseErr := parsePHC(s)
		if parseErr == nil && (h.params.Memory > 1024 || h.params.Time > 4) {
			return // Valid but too slow to verify for every input.
		}
		ok, rehash, err := cheap.Verify(s, password)
		if (err != nil) != (parseErr != nil) || (err != nil && (ok || rehash)) || (rehash && !ok) {
			t.Errorf("Verify = %v, %v, %v; parsePHC error %v", ok, rehash, err, parseErr)
		}
	})
}

// TestBcrypt: a bcrypt hash from another user table verifies and is always
// re-hashed to Argon2id.
func TestBcrypt(t *testing.T) {
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h, err := bcrypt.GenerateFromPassword([]byte("hunter2"), 4)
		if err != nil {
			t.Fatal(err)
		}
		hash := prefix + string(h[4:])
		if err := ValidateHash(hash); err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		if ok, rehash, err := DefaultParams.Verify(hash, "hunter2"); !ok || !rehash || err != nil {
			t.Errorf("%s right password: ok %v rehash %v err %v", prefix, ok, rehash, err)
		}
		if ok, rehash, err := DefaultParams.Verify(hash, "hunter3"); ok || rehash || err != nil {
			t.Errorf("%s wrong password: ok %v rehash %v err %v", prefix, ok, rehash, err)
		}
	}
}
