package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"authserver/keys/verify"
	"authserver/keys/verify/verifytest"
)

// TestRoutes runs the API against a test issuer: /public for anyone,
// /users/me for any valid token, /admin for admins only.
func TestRoutes(t *testing.T) {
	is := verifytest.NewIssuer(t)
	v, err := verify.New(t.Context(), is.URL, verify.Options{Audience: is.URL})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(routes(v))
	t.Cleanup(api.Close)
	userClaims, adminClaims := is.Claims(time.Now()), is.Claims(time.Now())
	userClaims["scope"] = "read write"
	adminClaims["roles"] = []string{"admin"}
	user, admin := is.Token(t, "RS256", userClaims), is.Token(t, "EdDSA", adminClaims)
	for _, tc := range []struct {
		path, token string
		status      int
		body        string
	}{
		{"/public", "", http.StatusOK, `{"message":"hello"}`},
		{"/users/me", "", http.StatusUnauthorized, `{"error":"invalid_token","error_description":"the request carries no bearer access token"}`},
		{"/users/me", "garbage", http.StatusUnauthorized, `{"error":"invalid_token","error_description":"the access token is malformed"}`},
		{"/users/me", user, http.StatusOK, `{"sub":"user-1","client_id":"demo","scope":"read write","roles":[]}`},
		{"/users/me", admin, http.StatusOK, `{"sub":"user-1","client_id":"demo","scope":"","roles":["admin"]}`},
		{"/admin", "", http.StatusUnauthorized, `{"error":"invalid_token","error_description":"the request carries no bearer access token"}`},
		{"/admin", user, http.StatusForbidden, `{"error":"access_denied","error_description":"the user lacks a role this resource requires"}`},
		{"/admin", admin, http.StatusOK, `{"message":"hello, admin"}`},
	} {
		req, _ := http.NewRequest(http.MethodGet, api.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(body) != tc.body+"\n" {
			t.Errorf("GET %s: %d %s\nwant %d %s", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}
