package keys

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

var now = time.Date(2025, 1, 2, 3, 4, 5, 678, time.FixedZone("CET", 3600))

// claims is a typical RFC 9068 §2.2 access token payload.
var claims = []byte(`{"iss":"https://auth.example.com","sub":"5ba552d67","aud":"https://rs.example.com",` +
	`"exp":1735787045,"iat":1735786145,"nbf":1735786145,"jti":"dbe39bf3a3ba4238a513f51d6e1691c4",` +
	`"client_id":"s6BhdRkqt3","scope":"read write","roles":["admin"],"sid":"NNgEx1yJ2bUWRT8Sf5wOpQ"}`)

// openTemp opens a key set in a fresh directory and returns it with its path.
func openTemp(t testing.TB) (*Set, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys", "keys.json")
	s, err := Open(path, now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

func TestOpenGeneratesOnce(t *testing.T) {
	s, path := openTemp(t)

	infos := s.List()
	if len(infos) != 2 {
		t.Fatalf("List returned %d keys, want 2: %+v", len(infos), infos)
	}
	created := time.Date(2025, 1, 2, 2, 4, 5, 0, time.UTC)
	for i, alg := range []string{"EdDSA", "RS256"} {
		if got := infos[i]; got.Alg != alg || got.State != StateActive || !got.Created.Equal(created) || got.Created.Location() != time.UTC || got.KID == "" {
			t.Errorf("key %d = %+v, want an active %s key created %v (UTC)", i, got, alg, created)
		}
	}

	for p, want := range map[string]fs.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", p, got, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want only the key file", len(entries))
	}

	again, err := Open(path, now.Add(time.Hour))
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if !reflect.DeepEqual(again.List(), infos) {
		t.Errorf("second Open regenerated keys: %+v, want %+v", again.List(), infos)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(loaded.List(), infos) {
		t.Errorf("Load = %+v, want %+v", loaded.List(), infos)
	}
	_, etag := s.JWKS()
	if _, reloaded := loaded.JWKS(); reloaded != etag {
		t.Errorf("JWKS ETag changed across Load: %s, want %s", reloaded, etag)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if _, err := Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want an error wrapping fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load created %s", path)
	}
}

// TestThumbprintRFC7638 checks thumbprint against the example of RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	k, err := jwk.ParseKey([]byte(`{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",` +
		`"n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

// TestKIDIsThumbprint checks each kid against a thumbprint computed by
// go-jose (RFC 7638 §3).
func TestKIDIsThumbprint(t *testing.T) {
	s, _ := openTemp(t)
	set := jwkSet(t, s)
	for _, info := range s.List() {
		found := set.Key(info.KID)
		if len(found) != 1 {
			t.Fatalf("JWKS has %d keys with kid %s, want 1", len(found), info.KID)
		}
		sum, err := found[0].Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(sum); info.KID != want {
			t.Errorf("%s kid = %s, want thumbprint %s", info.Alg, info.KID, want)
		}
	}
}

// TestJWKS checks the published set (RFC 7517 §5): public keys only, each
// with kid, alg and use "sig", under a stable strong entity tag.
func TestJWKS(t *testing.T) {
	s, _ := openTemp(t)
	set := jwkSet(t, s)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
	}
	infos := s.List()
	for i, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.KeyID != infos[i].KID || k.Algorithm != infos[i].Alg {
			t.Errorf("key %d: public %v, use %q, kid %q, alg %q; want public, sig, %s, %s",
				i, k.IsPublic(), k.Use, k.KeyID, k.Algorithm, infos[i].KID, infos[i].Alg)
		}
	}

	body, etag := s.JWKS()
	var raw struct{ Keys []map[string]json.RawMessage }
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for i, members := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := members[private]; ok {
				t.Errorf("key %d has private member %q", i, private)
			}
		}
		for _, required := range []string{"kty", "kid", "alg", "use"} {
			if _, ok := members[required]; !ok {
				t.Errorf("key %d lacks member %q", i, required)
			}
		}
	}

	sum := sha256.Sum256(body)
	if want := `"` + base64.RawURLEncoding.EncodeToString(sum[:])[:etagLen] + `"`; etag != want {
		t.Errorf("ETag = %s, want %s", etag, want)
	}
	if body2, etag2 := s.JWKS(); etag2 != etag || !bytes.Equal(body2, body) {
		t.Errorf("second JWKS call: ETag %s, want %s; body changed: %v", etag2, etag, !bytes.Equal(body2, body))
	}
}

// TestSign verifies tokens with go-jose against the published keys and checks
// the protected header of RFC 9068 §2.1.
func TestSign(t *testing.T) {
	s, _ := openTemp(t)
	set := jwkSet(t, s)
	for _, info := range s.List() {
		t.Run(info.Alg, func(t *testing.T) {
			tok, err := s.Sign(info.Alg, claims)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(info.Alg)})
			if err != nil {
				t.Fatalf("ParseSigned: %v", err)
			}
			h := jws.Signatures[0].Protected
			if h.KeyID != info.KID || h.Algorithm != info.Alg || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Errorf("header kid %q, alg %q, typ %v; want %s, %s, at+jwt", h.KeyID, h.Algorithm, h.ExtraHeaders[jose.HeaderType], info.KID, info.Alg)
			}
			keys := set.Key(h.KeyID)
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys with kid %s, want 1", len(keys), h.KeyID)
			}
			payload, err := jws.Verify(keys[0])
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(payload, claims) {
				t.Errorf("payload = %s, want %s", payload, claims)
			}
		})
	}
	for _, alg := range []string{"", "none", "HS256", "ES256", "rs256"} {
		if tok, err := s.Sign(alg, claims); err == nil {
			t.Errorf("Sign(%q) = %s, want an error", alg, tok)
		}
	}
}

// TestSignConcurrent lets the race detector watch concurrent signing.
func TestSignConcurrent(t *testing.T) {
	s, _ := openTemp(t)
	var wg sync.WaitGroup
	for range 4 {
		for _, alg := range []string{"RS256", "EdDSA"} {
			wg.Go(func() {
				for range 5 {
					if _, err := s.Sign(alg, claims); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
}

// TestOpenRejects checks that a bad key file is an error that leaves the file
// as it was, never a reason to generate new keys.
func TestOpenRejects(t *testing.T) {
	_, good := openTemp(t)
	valid, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// edit returns the valid file with f applied to its decoded form.
	edit := func(f func(kf *keyFile)) []byte {
		var kf keyFile
		if err := json.Unmarshal(valid, &kf); err != nil {
			t.Fatal(err)
		}
		f(&kf)
		b, err := json.Marshal(kf)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
		mode fs.FileMode
		want string
	}{
		{"corrupt", []byte(`{"version":1,"keys":[{"kid":`), 0o600, "decode"},
		{"empty", nil, 0o600, "decode"},
		{"group readable", valid, 0o640, "chmod 600"},
		{"world readable", valid, 0o644, "chmod 600"},
		{"unknown version", edit(func(kf *keyFile) { kf.Version = 2 }), 0o600, "unsupported version"},
		{"no RS256 key", edit(func(kf *keyFile) { kf.Keys = kf.Keys[:1] }), 0o600, "no active RS256 key"},
		{"no EdDSA key", edit(func(kf *keyFile) { kf.Keys = kf.Keys[1:] }), 0o600, "no active EdDSA key"},
		{"no keys", edit(func(kf *keyFile) { kf.Keys = nil }), 0o600, "no active"},
		{"duplicate key", edit(func(kf *keyFile) { kf.Keys[0] = kf.Keys[1] }), 0o600, "duplicate kid"},
		{"two active RS256 keys", edit(func(kf *keyFile) {
			k, err := rsa.GenerateKey(rand.Reader, rsaBits)
			if err != nil {
				t.Fatal(err)
			}
			kf.Keys = append(kf.Keys, record(t, rs256, k))
		}), 0o600, "more than one active RS256 key"},
		{"kid not thumbprint", edit(func(kf *keyFile) { kf.Keys[0].KID = "x" }), 0o600, "thumbprint"},
		{"alg does not match key", edit(func(kf *keyFile) { kf.Keys[0].Alg = "RS256" }), 0o600, "not an RSA private key"},
		{"unknown alg", edit(func(kf *keyFile) { kf.Keys[0].Alg = "ES256" }), 0o600, "unsupported alg"},
		{"unknown state", edit(func(kf *keyFile) { kf.Keys[0].State = "next" }), 0o600, "unknown state"},
		{"public key only", edit(func(kf *keyFile) {
			kf.Keys[1].JWK = bytes.Replace(kf.Keys[1].JWK, []byte(`"d":`), []byte(`"_d":`), 1)
		}), 0o600, "not an RSA private key"},
		{"RSA 1024", edit(func(kf *keyFile) {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			kf.Keys[1] = record(t, rs256, k)
		}), 0o600, "fewer than 2048"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, tc.data, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // WriteFile's mode is subject to umask
				t.Fatal(err)
			}
			for name, open := range map[string]func() (*Set, error){
				"Open": func() (*Set, error) { return Open(path, now) },
				"Load": func() (*Set, error) { return Load(path) },
			} {
				if _, err := open(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, tc.data) || fi.Mode().Perm() != tc.mode {
				t.Errorf("key file changed: mode %04o, content %q", fi.Mode().Perm(), data)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the key file", len(entries))
			}
		})
	}
}

// BenchmarkSign measures Sign beside a ceiling: the raw signature over a
// signing input of the same size, with the same key.
func BenchmarkSign(b *testing.B) {
	s, _ := openTemp(b)
	for _, alg := range []string{"RS256", "EdDSA"} {
		tok, err := s.Sign(alg, claims)
		if err != nil {
			b.Fatal(err)
		}
		input := []byte(tok[:strings.LastIndexByte(tok, '.')])
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(alg, claims); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"_ceiling", func(b *testing.B) {
			b.ReportAllocs()
			switch k := s.active[alg].signer.(type) {
			case *rsa.PrivateKey:
				for b.Loop() {
					sum := sha256.Sum256(input)
					if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:]); err != nil {
						b.Fatal(err)
					}
				}
			case ed25519.PrivateKey:
				for b.Loop() {
					ed25519.Sign(k, input)
				}
			}
		})
	}
}

// jwkSet parses the published JWK Set with go-jose.
func jwkSet(t *testing.T, s *Set) jose.JSONWebKeySet {
	t.Helper()
	body, _ := s.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, body)
	}
	return set
}

// record returns a key file record for signer, which may be a key that Open
// would never generate.
func record(t *testing.T, alg string, signer crypto.Signer) keyRecord {
	t.Helper()
	priv, err := jwk.FromRaw(signer)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(priv)
	if err != nil {
		t.Fatal(err)
	}
	return keyRecord{KID: kid, Alg: alg, State: StateActive, Created: now, JWK: b}
}

// TestVerify accepts what Sign produced and refuses any change of header,
// payload, signature, key or algorithm.
func TestVerify(t *testing.T) {
	set, err := Open(filepath.Join(t.TempDir(), "keys.json"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(filepath.Join(t.TempDir(), "keys.json"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	claims := []byte(`{"sub":"u1"}`)
	for _, alg := range []string{"RS256", "EdDSA"} {
		tok, err := set.Sign(alg, claims)
		if err != nil {
			t.Fatal(err)
		}
		got, err := set.Verify(tok)
		if err != nil || string(got) != string(claims) {
			t.Fatalf("%s: Verify = %q, %v", alg, got, err)
		}
		foreign, err := other.Sign(alg, claims)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		enc := base64.RawURLEncoding.EncodeToString
		for name, bad := range map[string]string{
			"another set's key": foreign,
			"changed payload":   parts[0] + "." + enc([]byte(`{"sub":"u2"}`)) + "." + parts[2],
			"changed signature": parts[0] + "." + parts[1] + "." + enc([]byte("x")),
			"typ JWT":           enc([]byte(`{"alg":"`+alg+`","kid":"`+set.active[alg].KID+`","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
			"alg none":          enc([]byte(`{"alg":"none","kid":"`+set.active[alg].KID+`","typ":"at+jwt"}`)) + "." + parts[1] + ".",
			"not a JWS":         "garbage",
		} {
			if _, err := set.Verify(bad); err == nil {
				t.Errorf("%s: %s verified", alg, name)
			}
		}
	}
}
