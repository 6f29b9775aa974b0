package main

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKeyEncryptionKey: the signing keys are sealed under the key from the
// environment, or the generated one in the data dir; a wrong or missing key
// for an existing set is a clear start-up error, never a new set.
func TestKeyEncryptionKey(t *testing.T) {
	k := make([]byte, 32)
	rand.Read(k)
	kek := base64.StdEncoding.EncodeToString(k)

	dir := t.TempDir()
	t.Setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", kek)
	s := startServer(t, dir, "--no-bootstrap")
	s.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "key-encryption-key")); err == nil {
		t.Error("a key-encryption key was generated although the environment gave one")
	}
	before := mustCLI(t, dir, "", "keys", "list")

	k[0] ^= 1
	t.Setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(k))
	out, err := exec.Command(bin, "serve", "--no-bootstrap", "--data-dir", dir, "--addr", "127.0.0.1:0", "--metrics-addr", "").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "key-encryption key does not open") {
		t.Errorf("serve with a wrong key-encryption key: %v\n%s", err, out)
	}
	t.Setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", "")
	out, err = exec.Command(bin, "keys", "list", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no key-encryption key") {
		t.Errorf("keys list without the key-encryption key: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "key-encryption-key")); err == nil {
		t.Error("a key-encryption key was generated for an existing key set")
	}
	t.Setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", kek)
	if after := mustCLI(t, dir, "", "keys", "list"); after != before {
		t.Errorf("the key set changed:\n%s\n%s", before, after)
	}
	t.Setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", "c2hvcnQ=")
	if _, stderr, code := cli(t, dir, "", "keys", "list"); code == 0 || !strings.Contains(stderr, "AUTHSERVER_KEY_ENCRYPTION_KEY") {
		t.Errorf("a short key-encryption key: %d %s", code, stderr)
	}
}

// TestKeysRotate: keys rotate publishes a next key of each algorithm that
// the JWKS shows at once and that signs only after the publication lead.
func TestKeysRotate(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--no-bootstrap", "--jwks-max-age", "120s")
	out := mustCLI(t, dir, "", "keys", "rotate", "--alg", "EdDSA")
	if !strings.Contains(out, "EdDSA key") || !strings.Contains(out, "published as next") {
		t.Fatalf("keys rotate: %s", out)
	}
	list := mustCLI(t, dir, "", "keys", "list")
	next := regexp.MustCompile(`(?m)^(\S{43})\s+EdDSA\s+next\s`).FindStringSubmatch(list)
	if next == nil || !regexp.MustCompile(`(?m)^\S{43}\s+RS256\s+active\s`).MatchString(list) {
		t.Fatalf("keys list:\n%s", list)
	}
	// The server picks the new key up within its poll interval; with the
	// default of 30 s, the next poll has not come yet, but a restart loads it.
	s = s.restart(t)
	resp, err := http.Get(s.url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), next[1]) || resp.Header.Get("Cache-Control") != "public, max-age=120" {
		t.Errorf("JWKS %q lacks the next key %s:\n%s", resp.Header.Get("Cache-Control"), next[1], body)
	}
	s.stop(t)
}
