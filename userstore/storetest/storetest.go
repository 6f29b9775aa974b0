package storetest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"authserver/server"
	"authserver/userstore"
)

// params are cheap Argon2 parameters for the hashes the suite creates, so
// that the suite stays fast under the race detector. open should give its
// stores cheap parameters too.
var params = userstore.Params{Memory: 64, Time: 1, Threads: 1}

// Run runs the conformance suite, each subtest on a new empty Store from
// open, which must also close the Store when the subtest ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) *userstore.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s *userstore.Store)
	}{
		{"CreateUser", testCreateUser},
		{"EmailIsCaseInsensitive", testEmailIsCaseInsensitive},
		{"CreateUserRefuses", testCreateUserRefuses},
		{"NotFound", testNotFound},
		{"SetUserActive", testSetUserActive},
		{"UserByID", testUserByID},
		{"SetPasswordHash", testSetPasswordHash},
		{"DeleteUser", testDeleteUser},
		{"UsersOrderedByEmail", testUsersOrderedByEmail},
		{"Authenticate", testAuthenticate},
		{"AuthenticateRehashes", testAuthenticateRehashes},
		{"Clients", testClients},
		{"CreateClientRefuses", testCreateClientRefuses},
		{"Scopes", testScopes},
		{"Empty", testEmpty},
		{"ConcurrentCreateUser", testConcurrentCreateUser},
		{"KeySetCompareAndSwap", testKeySetCompareAndSwap},
		{"RotateClientSecret", testRotateClientSecret},
		{"Import", testImport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, open(t)) })
	}
}

func hash(t *testing.T, password string) string {
	t.Helper()
	h, err := params.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func createUser(t *testing.T, s *userstore.Store, email, password string, roles ...string) server.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), server.User{Email: email, Active: true, Roles: roles}, hash(t, password))
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

func createClient(t *testing.T, s *userstore.Store, id string, scopes ...string) server.Client {
	t.Helper()
	c, err := s.CreateClient(t.Context(), server.Client{
		ID: id, SecretHash: server.HashSecret("secret of " + id), Grants: []string{"client_credentials"}, Scopes: scopes,
	})
	if err != nil {
		t.Fatalf("CreateClient(%q): %v", id, err)
	}
	return c
}

// checkTime fails unless tm is set, in UTC and in whole microseconds.
func checkTime(t *testing.T, name string, tm time.Time) {
	t.Helper()
	if tm.IsZero() || tm.Location() != time.UTC || tm.Nanosecond()%1000 != 0 || time.Since(tm) > time.Minute {
		t.Errorf("%s = %v, want a recent UTC time in whole microseconds", name, tm)
	}
}

func testCreateUser(t *testing.T, s *userstore.Store) {
	u := createUser(t, s, "alice@example.com", "pw", "admin", "dev")
	if u.ID == "" || u.Email != "alice@example.com" || !u.Active || !reflect.DeepEqual(u.Roles, []string{"admin", "dev"}) {
		t.Errorf("CreateUser = %+v", u)
	}
	checkTime(t, "CreatedAt", u.CreatedAt)
	if !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", u.UpdatedAt, u.CreatedAt)
	}
	got, err := s.User(t.Context(), "alice@example.com")
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Errorf("User = %+v, %v; want %+v", got, err, u)
	}

	// Empty roles read back as nil, as the package documents.
	bob, err := s.CreateUser(t.Context(), server.User{Email: "bob@example.com", Roles: []string{}}, hash(t, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.User(t.Context(), "bob@example.com"); err != nil || got.Roles != nil || bob.Roles != nil || got.Active {
		t.Errorf("User(bob) = %+v, %v; want inactive with nil roles", got, err)
	}
	if bob.ID == u.ID {
		t.Errorf("two users share ID %s", u.ID)
	}
}

func testEmailIsCaseInsensitive(t *testing.T, s *userstore.Store) {
	createUser(t, s, "Alice@x", "pw")
	if _, err := s.CreateUser(t.Context(), server.User{Email: "alice@X"}, hash(t, "pw")); !errors.Is(err, server.ErrExists) {
		t.Errorf("CreateUser(alice@X) = %v, want ErrExists", err)
	}
	for _, email := range []string{"Alice@x", "alice@X", "ALICE@X"} {
		if u, err := s.User(t.Context(), email); err != nil || u.Email != "Alice@x" {
			t.Errorf("User(%q) = %+v, %v; want Alice@x", email, u, err)
		}
	}
}

func testCreateUserRefuses(t *testing.T, s *userstore.Store) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 256)
	for _, tt := range []struct{ name, email, hash string }{
		{"empty email", "", hash(t, "pw")},
		{"no @", "alice", hash(t, "pw")},
		{"empty local part", "@example.com", hash(t, "pw")},
		{"empty domain", "alice@", hash(t, "pw")},
		{"two @", "a@b@example.com", hash(t, "pw")},
		{"321 bytes", long, hash(t, "pw")},
		{"plaintext password", "alice@example.com", "pw"},
		{"truncated bcrypt hash", "alice@example.com", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMU"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.CreateUser(t.Context(), server.User{Email: tt.email}, tt.hash); err == nil || errors.Is(err, server.ErrExists) {
				t.Errorf("CreateUser = %v, want a validation error", err)
			}
		})
	}
	if _, err := s.CreateUser(t.Context(), server.User{Email: long[1:]}, hash(t, "pw")); err != nil {
		t.Errorf("CreateUser(320 bytes) = %v", err)
	}
}

func testNotFound(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	createUser(t, s, "alice@example.com", "pw")
	createClient(t, s, "app")
	_, userErr := s.User(ctx, "bob@example.com")
	_, clientErr := s.Client(ctx, "other")
	_, byIDErr := s.UserByID(ctx, "no-such-id")
	for name, err := range map[string]error{
		"User":            userErr,
		"UserByID":        byIDErr,
		"SetPasswordHash": s.SetPasswordHash(ctx, "bob@example.com", hash(t, "pw")),
		"SetUserActive":   s.SetUserActive(ctx, "bob@example.com", false),
		"DeleteUser":      s.DeleteUser(ctx, "bob@example.com"),
		"Client":          clientErr,
		"DeleteClient":    s.DeleteClient(ctx, "other"),
	} {
		if !errors.Is(err, server.ErrNotFound) {
			t.Errorf("%s = %v, want ErrNotFound", name, err)
		}
	}
}

func testSetUserActive(t *testing.T, s *userstore.Store) {
	u := createUser(t, s, "alice@example.com", "pw")
	if err := s.SetUserActive(t.Context(), "ALICE@example.com", false); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(t.Context(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Active || !got.CreatedAt.Equal(u.CreatedAt) || !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("after SetUserActive(false): %+v; want inactive, same CreatedAt, later UpdatedAt than %v", got, u.UpdatedAt)
	}
	checkTime(t, "UpdatedAt", got.UpdatedAt)
	if err := s.SetUserActive(t.Context(), "alice@example.com", true); err != nil {
		t.Fatal(err)
	}
	if got, err := s.User(t.Context(), "alice@example.com"); err != nil || !got.Active {
		t.Errorf("after SetUserActive(true): %+v, %v", got, err)
	}
}

func testDeleteUser(t *testing.T, s *userstore.Store) {
	createUser(t, s, "alice@example.com", "pw")
	if err := s.DeleteUser(t.Context(), "Alice@Example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(t.Context(), "alice@example.com"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("User after DeleteUser = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(t.Context(), "alice@example.com"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("second DeleteUser = %v, want ErrNotFound", err)
	}
	createUser(t, s, "alice@example.com", "pw") // The email is free again.
}

func testUsersOrderedByEmail(t *testing.T, s *userstore.Store) {
	if users, err := s.Users(t.Context()); err != nil || len(users) != 0 {
		t.Errorf("Users of an empty store = %v, %v", users, err)
	}
	for _, email := range []string{"carol@x", "Bob@x", "alice@x"} {
		createUser(t, s, email, "pw")
	}
	users, err := s.Users(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, u := range users {
		emails = append(emails, u.Email)
	}
	if want := []string{"alice@x", "Bob@x", "carol@x"}; !reflect.DeepEqual(emails, want) {
		t.Errorf("Users = %v, want %v", emails, want)
	}
}

func testAuthenticate(t *testing.T, s *userstore.Store) {
	alice := createUser(t, s, "alice@example.com", "correct horse", "admin")
	createUser(t, s, "bob@example.com", "battery staple")
	if err := s.SetUserActive(t.Context(), "bob@example.com", false); err != nil {
		t.Fatal(err)
	}
	u, err := s.Authenticate(t.Context(), "Alice@Example.COM", "correct horse")
	if err != nil || !reflect.DeepEqual(u, alice) {
		t.Errorf("Authenticate = %+v, %v; want %+v", u, err, alice)
	}
	for _, tt := range []struct{ name, email, password string }{
		{"wrong password", "alice@example.com", "correct horsE"},
		{"empty password", "alice@example.com", ""},
		{"unknown email", "carol@example.com", "correct horse"},
		{"inactive user", "bob@example.com", "battery staple"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if u, err := s.Authenticate(t.Context(), tt.email, tt.password); !errors.Is(err, server.ErrInvalidCredentials) {
				t.Errorf("Authenticate = %+v, %v; want ErrInvalidCredentials", u, err)
			}
		})
	}
}

// testAuthenticateRehashes stores an Argon2i hash, which is never what the
// store hashes with, and checks that a login replaces it exactly once: the
// first login bumps UpdatedAt, the second finds the store's own hash.
func testAuthenticateRehashes(t *testing.T, s *userstore.Store) {
	salt := []byte("0123456789abcdef")
	key := argon2.Key([]byte("pw"), salt, 1, 32, 1, 32)
	b64 := base64.RawStdEncoding.EncodeToString
	argon2i := fmt.Sprintf("$argon2i$v=19$m=32,t=1,p=1$%s$%s", b64(salt), b64(key))
	created, err := s.CreateUser(t.Context(), server.User{Email: "alice@example.com", Active: true}, argon2i)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Authenticate(t.Context(), "alice@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !first.UpdatedAt.After(created.UpdatedAt) {
		t.Errorf("UpdatedAt after the first login = %v, want after %v", first.UpdatedAt, created.UpdatedAt)
	}
	if stored, err := s.User(t.Context(), "alice@example.com"); err != nil || !stored.UpdatedAt.Equal(first.UpdatedAt) {
		t.Errorf("User = %+v, %v; want UpdatedAt %v", stored, err, first.UpdatedAt)
	}
	second, err := s.Authenticate(t.Context(), "alice@example.com", "pw")
	if err != nil || !second.UpdatedAt.Equal(first.UpdatedAt) {
		t.Errorf("second login = %+v, %v; want no rehash (UpdatedAt %v)", second, err, first.UpdatedAt)
	}
	if _, err := s.Authenticate(t.Context(), "alice@example.com", "wrong"); !errors.Is(err, server.ErrInvalidCredentials) {
		t.Errorf("wrong password after rehash = %v, want ErrInvalidCredentials", err)
	}
}

func testClients(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	web, err := s.CreateClient(ctx, server.Client{
		ID: "web", SecretHash: server.HashSecret("s3cret"), Name: "Web app",
		Grants: []string{"password", "refresh_token"}, Scopes: []string{"read", "write"},
		Audience: "https://api.example.com", Alg: server.EdDSA,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "CreatedAt", web.CreatedAt)
	cli, err := s.CreateClient(ctx, server.Client{ID: "cli", Public: true, Grants: []string{"password"}})
	if err != nil {
		t.Fatal(err)
	}
	if cli.Alg != server.RS256 || cli.SecretHash != nil || cli.Scopes != nil {
		t.Errorf("CreateClient(public) = %+v; want Alg RS256, nil SecretHash and Scopes", cli)
	}
	for _, want := range []server.Client{web, cli} {
		if got, err := s.Client(ctx, want.ID); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Client(%q) = %+v, %v; want %+v", want.ID, got, err, want)
		}
	}
	if got, _ := s.Client(ctx, "web"); !got.VerifySecret("s3cret", time.Now()) || got.VerifySecret("other", time.Now()) {
		t.Error("stored secret hash does not verify the secret")
	}
	if _, err := s.CreateClient(ctx, server.Client{ID: "web", Public: true, Grants: []string{"password"}}); !errors.Is(err, server.ErrExists) {
		t.Errorf("CreateClient(duplicate) = %v, want ErrExists", err)
	}
	if clients, err := s.Clients(ctx); err != nil || !reflect.DeepEqual(clients, []server.Client{cli, web}) {
		t.Errorf("Clients = %+v, %v; want cli, web", clients, err)
	}
	if err := s.DeleteClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client(ctx, "web"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("Client after DeleteClient = %v, want ErrNotFound", err)
	}
	if clients, err := s.Clients(ctx); err != nil || len(clients) != 1 {
		t.Errorf("Clients after DeleteClient = %+v, %v", clients, err)
	}
}

func testCreateClientRefuses(t *testing.T, s *userstore.Store) {
	secret := server.HashSecret("s3cret")
	grants := []string{"client_credentials"}
	for _, tt := range []struct {
		name string
		c    server.Client
	}{
		{"empty id", server.Client{SecretHash: secret, Grants: grants}},
		{"confidential without secret", server.Client{ID: "a", Grants: grants}},
		{"confidential with short hash", server.Client{ID: "a", SecretHash: secret[:31], Grants: grants}},
		{"confidential with plaintext secret", server.Client{ID: "a", SecretHash: []byte("s3cret"), Grants: grants}},
		{"public with secret", server.Client{ID: "a", Public: true, SecretHash: secret, Grants: grants}},
		{"HS256", server.Client{ID: "a", SecretHash: secret, Grants: grants, Alg: "HS256"}},
		{"alg none", server.Client{ID: "a", SecretHash: secret, Grants: grants, Alg: "none"}},
		{"no grants", server.Client{ID: "a", SecretHash: secret}},
		{"id shaped like a user id", server.Client{ID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", SecretHash: secret, Grants: grants}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := s.CreateClient(t.Context(), tt.c); err == nil || errors.Is(err, server.ErrExists) {
				t.Errorf("CreateClient = %+v, %v; want a validation error", c, err)
			}
		})
	}
	if empty, err := s.Empty(t.Context()); err != nil || !empty {
		t.Errorf("Empty after refusals = %v, %v; want true", empty, err)
	}
}

func testScopes(t *testing.T, s *userstore.Store) {
	if scopes, err := s.Scopes(t.Context()); err != nil || len(scopes) != 0 {
		t.Errorf("Scopes of an empty store = %v, %v", scopes, err)
	}
	createClient(t, s, "a", "write", "read")
	createClient(t, s, "b", "read", "admin")
	createClient(t, s, "c")
	scopes, err := s.Scopes(t.Context())
	if want := []string{"admin", "read", "write"}; err != nil || !reflect.DeepEqual(scopes, want) {
		t.Errorf("Scopes = %v, %v; want %v", scopes, err, want)
	}
}

func testEmpty(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	check := func(step string, want bool) {
		t.Helper()
		if empty, err := s.Empty(ctx); err != nil || empty != want {
			t.Errorf("Empty %s = %v, %v; want %v", step, empty, err, want)
		}
	}
	check("at first", true)
	createClient(t, s, "app")
	check("with a client", false)
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	check("after deleting it", true)
	createUser(t, s, "alice@example.com", "pw")
	check("with a user", false)
}

// testConcurrentCreateUser creates one email, in varying case, from 8
// goroutines at once: exactly one must succeed.
func testConcurrentCreateUser(t *testing.T, s *userstore.Store) {
	h := hash(t, "pw")
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		email := "alice@example.com"
		if i%2 == 1 {
			email = strings.ToUpper(email)
		}
		wg.Go(func() {
			_, errs[i] = s.CreateUser(t.Context(), server.User{Email: email, Active: true}, h)
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, server.ErrExists):
			t.Errorf("CreateUser = %v, want nil or ErrExists", err)
		}
	}
	if created != 1 {
		t.Errorf("%d of %d concurrent CreateUser calls succeeded, want 1", created, len(errs))
	}
	if users, err := s.Users(t.Context()); err != nil || len(users) != 1 {
		t.Errorf("Users = %+v, %v; want one user", users, err)
	}
}

func testUserByID(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	u := createUser(t, s, "alice@example.com", "pw", "admin")
	createUser(t, s, "bob@example.com", "pw")
	if err := s.SetUserActive(ctx, "alice@example.com", false); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil || got.Email != "alice@example.com" || got.Active || !reflect.DeepEqual(got.Roles, []string{"admin"}) {
		t.Fatalf("UserByID = %+v, %v; want inactive alice with role admin", got, err)
	}
}

func testSetPasswordHash(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	u := createUser(t, s, "alice@example.com", "old password")
	if err := s.SetPasswordHash(ctx, "ALICE@example.com", hash(t, "new password")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.com", "old password"); !errors.Is(err, server.ErrInvalidCredentials) {
		t.Errorf("old password: %v, want ErrInvalidCredentials", err)
	}
	got, err := s.Authenticate(ctx, "alice@example.com", "new password")
	if err != nil || !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("new password: %+v, %v; want a login with a later UpdatedAt", got, err)
	}
	if err := s.SetPasswordHash(ctx, "alice@example.com", "plaintext"); err == nil {
		t.Error("a plaintext password was stored as a hash")
	}
}

func testKeySetCompareAndSwap(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	if v, data, err := s.LoadKeySet(ctx); v != 0 || data != nil || err != nil {
		t.Fatalf("empty store: %d %q %v", v, data, err)
	}
	// Of 8 concurrent swaps from each version, exactly one succeeds.
	for version := int64(0); version < 3; version++ {
		var wg sync.WaitGroup
		won := make(chan string, 8)
		for i := range 8 {
			wg.Go(func() {
				data := fmt.Sprintf("set %d by %d", version+1, i)
				ok, err := s.SwapKeySet(ctx, version, []byte(data))
				if err != nil {
					t.Error(err)
				}
				if ok {
					won <- data
				}
			})
		}
		wg.Wait()
		close(won)
		var winners []string
		for w := range won {
			winners = append(winners, w)
		}
		if len(winners) != 1 {
			t.Fatalf("from version %d: %d swaps succeeded, want 1", version, len(winners))
		}
		v, data, err := s.LoadKeySet(ctx)
		if err != nil || v != version+1 || string(data) != winners[0] {
			t.Fatalf("after version %d: %d %q %v, want %d %q", version, v, data, err, version+1, winners[0])
		}
	}
	if ok, err := s.SwapKeySet(ctx, 1, []byte("stale")); ok || err != nil {
		t.Fatalf("a swap from a stale version: %v %v", ok, err)
	}
}

func testRotateClientSecret(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	createClient(t, s, "app")
	if _, err := s.CreateClient(ctx, server.Client{ID: "spa", Public: true, Grants: []string{"password"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.RotateClientSecret(ctx, "app", server.HashSecret("new secret"), time.Hour, now); err != nil {
		t.Fatal(err)
	}
	c, err := s.Client(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		secret string
		at     time.Time
		want   bool
	}{
		{"new secret", now, true},
		{"secret of app", now, true},
		{"secret of app", now.Add(time.Hour - time.Millisecond), true},
		{"secret of app", now.Add(time.Hour), false},
		{"new secret", now.Add(48 * time.Hour), true},
		{"other", now, false},
	} {
		if got := c.VerifySecret(tc.secret, tc.at); got != tc.want {
			t.Errorf("VerifySecret(%q, +%v) = %v, want %v", tc.secret, tc.at.Sub(now), got, tc.want)
		}
	}
	for name, id := range map[string]string{"unknown": "nobody", "public": "spa"} {
		if err := s.RotateClientSecret(ctx, id, server.HashSecret("x"), time.Hour, now); !errors.Is(err, server.ErrNotFound) {
			t.Errorf("%s client: %v, want ErrNotFound", name, err)
		}
	}
}

func testImport(t *testing.T, s *userstore.Store) {
	ctx := t.Context()
	bc, err := bcrypt.GenerateFromPassword([]byte("bcrypt pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	other := userstore.Params{Memory: 128, Time: 2, Threads: 2}
	otherHash, err := other.Hash("other pw")
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return `"` + s + `"` } // PHC strings hold commas
	csv := "email,hashed_password,is_active,roles,created_at\n" +
		"argon@example.com," + q(hash(t, "argon pw")) + ",true,\"[\"\"admin\"\",\"\"dev\"\"]\",2024-03-01T10:00:00Z\n" + // line 2
		"other@example.com," + q(otherHash) + ",1,,2024-03-01 10:00:00.123456\n" + // line 3
		"bcrypt@example.com," + string(bc) + ",True,\"ops, audit\",2024-03-01 10:00:00+02\n" + // line 4
		"ARGON@example.com," + q(hash(t, "x")) + ",true,,\n" + // line 5: duplicate in another case
		"bad-hash@example.com,$2b$12$short,true,,\n" + // line 6
		"no-at-sign," + q(hash(t, "x")) + ",true,,\n" + // line 7
		"active@example.com," + q(hash(t, "x")) + ",maybe,,\n" + // line 8
		"date@example.com," + q(hash(t, "x")) + ",false,,yesterday\n" + // line 9
		"inactive@example.com," + q(hash(t, "inactive pw")) + ",false,,\n" // line 10
	report, err := s.Import(ctx, strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, r := range report.Rejected {
		lines = append(lines, r.Line)
		if r.Reason == "" {
			t.Errorf("line %d rejected without a reason", r.Line)
		}
	}
	if report.Imported != 4 || report.Skipped != 1 || !reflect.DeepEqual(lines, []int{6, 7, 8, 9}) {
		t.Fatalf("report %+v, want 4 imported, 1 skipped, lines 6-9 rejected", report)
	}
	again, err := s.Import(ctx, strings.NewReader(csv))
	if err != nil || again.Imported != 0 || again.Skipped != 5 {
		t.Fatalf("second import %+v, %v: want nothing imported and 5 skipped", again, err)
	}
	u, err := s.User(ctx, "argon@example.com")
	if err != nil || !reflect.DeepEqual(u.Roles, []string{"admin", "dev"}) || !u.CreatedAt.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("argon: %+v, %v", u, err)
	}
	if u, _ := s.User(ctx, "bcrypt@example.com"); !reflect.DeepEqual(u.Roles, []string{"ops", "audit"}) || !u.CreatedAt.Equal(time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("bcrypt: %+v", u)
	}
	for user, pw := range map[string]string{"argon@example.com": "argon pw", "other@example.com": "other pw", "bcrypt@example.com": "bcrypt pw"} {
		first, err := s.Authenticate(ctx, user, pw)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		second, err := s.Authenticate(ctx, user, pw)
		if err != nil || (user != "argon@example.com" && !second.UpdatedAt.Equal(first.UpdatedAt)) {
			t.Errorf("%s: the second login re-hashed again (%v, %v)", user, first.UpdatedAt, second.UpdatedAt)
		}
	}
	if _, err := s.Authenticate(ctx, "inactive@example.com", "inactive pw"); !errors.Is(err, server.ErrInvalidCredentials) {
		t.Errorf("an inactive imported user logged in: %v", err)
	}
	if _, err := s.Import(ctx, strings.NewReader("email,password\nx@y,z\n")); err == nil {
		t.Error("a file without the columns was imported")
	}
}
