package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// KEKSize is the size in bytes of the key-encryption key.
const KEKSize = 32

// ErrWrongKEK reports a key-encryption key that does not open the stored
// keys: it is not the one that sealed them.
var ErrWrongKEK = errors.New("keys: the key-encryption key does not open the stored signing keys")

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
const minRSABits = 2048

// formatVersion is the version of the stored form of a key set.
const formatVersion = 1

// stored is the stored form of a key set.
type stored struct {
	Version int         `json:"version"`
	Keys    []storedKey `json:"keys"`
}

// storedKey is one key in its stored form. Sealed is the private JWK
// (RFC 7517 §4, RFC 7518 §6.3.2, RFC 8037 §2) encrypted with AES-256-GCM
// under the key-encryption key, with the kid as additional data: the nonce,
// then the ciphertext.
type storedKey struct {
	KID        string    `json:"kid"`
	Alg        string    `json:"alg"`
	State      string    `json:"state"`
	Created    time.Time `json:"created"`
	ActivateAt time.Time `json:"activate_at,omitzero"`
	Activated  time.Time `json:"activated,omitzero"`
	Retired    time.Time `json:"retired,omitzero"`
	RemoveAt   time.Time `json:"remove_at,omitzero"`
	Sealed     []byte    `json:"sealed"`
}

// newAEAD returns AES-256-GCM under kek.
func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("keys: the key-encryption key has %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts the private key of k.
func seal(aead cipher.AEAD, k *key) ([]byte, error) {
	priv, err := jwk.FromRaw(k.signer)
	if err != nil {
		return nil, fmt.Errorf("private JWK of key %s: %w", k.KID, err)
	}
	plain, err := json.Marshal(priv)
	if err != nil {
		return nil, fmt.Errorf("encode key %s: %w", k.KID, err)
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, []byte(k.KID)), nil
}

// encode returns the stored form of ks.
func encode(ks []*key) ([]byte, error) {
	st := stored{Version: formatVersion, Keys: make([]storedKey, len(ks))}
	for i, k := range ks {
		st.Keys[i] = storedKey{KID: k.KID, Alg: k.Alg, State: k.State, Created: k.Created, ActivateAt: k.ActivateAt,
			Activated: k.Activated, Retired: k.Retired, RemoveAt: k.RemoveAt, Sealed: k.sealed}
	}
	return json.Marshal(st)
}

// decode opens the stored form of a key set and checks each key against its
// kid.
func decode(aead cipher.AEAD, data []byte) ([]*key, error) {
	var st stored
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("keys: decode key set: %w", err)
	}
	if st.Version != formatVersion {
		return nil, fmt.Errorf("keys: key set format %d, want %d", st.Version, formatVersion)
	}
	ks := make([]*key, len(st.Keys))
	for i, r := range st.Keys {
		k, err := open(aead, r)
		if err != nil {
			return nil, fmt.Errorf("keys: key %s: %w", r.KID, err)
		}
		ks[i] = k
	}
	return ks, nil
}

// open decrypts a stored key and checks that its kid is its thumbprint.
func open(aead cipher.AEAD, r storedKey) (*key, error) {
	if len(r.Sealed) < aead.NonceSize() {
		return nil, errors.New("sealed key too short")
	}
	plain, err := aead.Open(nil, r.Sealed[:aead.NonceSize()], r.Sealed[aead.NonceSize():], []byte(r.KID))
	if err != nil {
		return nil, ErrWrongKEK
	}
	priv, err := jwk.ParseKey(plain)
	if err != nil {
		return nil, fmt.Errorf("decode JWK: %w", err)
	}
	var signer crypto.Signer
	switch r.Alg {
	case RS256:
		k := new(rsa.PrivateKey)
		if err := priv.Raw(k); err != nil {
			return nil, fmt.Errorf("not an RSA private key: %w", err)
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("invalid RSA private key: %w", err)
		}
		if n := k.N.BitLen(); n < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, fewer than %d", n, minRSABits)
		}
		k.Precompute()
		signer = k
	case EdDSA:
		var k ed25519.PrivateKey
		if err := priv.Raw(&k); err != nil {
			return nil, fmt.Errorf("not an Ed25519 private key: %w", err)
		}
		signer = k
	default:
		return nil, fmt.Errorf("unsupported alg %q", r.Alg)
	}
	k, err := newKey(Info{Alg: r.Alg, State: r.State, Created: r.Created, ActivateAt: r.ActivateAt,
		Activated: r.Activated, Retired: r.Retired, RemoveAt: r.RemoveAt}, signer)
	if err != nil {
		return nil, err
	}
	if k.KID != r.KID {
		return nil, fmt.Errorf("kid is not the key's thumbprint %s", k.KID)
	}
	k.sealed = r.Sealed
	return k, nil
}
