package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseForm: any body and content type give a form or an OAuth error,
// never a panic; an accepted form holds only printable UTF-8 and no
// repeated parameter.
func FuzzParseForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=password&username=a%40b&password=x")
	f.Add("application/x-www-form-urlencoded; charset=UTF-8", "a=1&a=2")
	f.Add("application/json", `{"grant_type":"password"}`)
	f.Add("multipart/form-data; boundary=x", "--x\r\n\r\n--x--")
	f.Add("application/x-www-form-urlencoded", "x=%zz&y=%00&z=%ff%fe")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		form, err := parseForm(httptest.NewRecorder(), r)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("parseForm returned a non-OAuth error %T", err)
			}
			return
		}
		for name, values := range form {
			if len(values) != 1 || !utf8.ValidString(name) || !printable(name) || !printable(values[0]) {
				t.Fatalf("accepted %q = %q", name, values)
			}
		}
	})
}

// FuzzClientCredentials: any Authorization header and form give client
// credentials or an OAuth error, never a panic.
func FuzzClientCredentials(f *testing.F) {
	f.Add("Basic YXBwOnNlY3JldA==", "")
	f.Add("Basic b2RkJTNBaWQ6cyUyQmM=", "client_id=odd:id")
	f.Add("basic !!!", "client_secret=x")
	f.Add("Bearer abc", "")
	f.Add("", "client_id=app&client_secret=s")
	f.Fuzz(func(t *testing.T, auth, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		form, err := parseForm(httptest.NewRecorder(), r)
		if err != nil {
			return
		}
		id, _, _, err := clientCredentials(r, form)
		if err == nil && (id == "" || !printable(id)) {
			t.Fatalf("accepted client id %q", id)
		}
	})
}

// FuzzParseRefreshToken: a parsed refresh token prints back as the input.
func FuzzParseRefreshToken(f *testing.F) {
	t := newRefreshToken("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add(t.String())
	f.Add("a.b.c")
	f.Add("..")
	f.Add("u.AAAAAAAAAAAAAAAAAAAAAA.AAAA")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, ok := parseRefreshToken(raw)
		if ok && tok.String() != raw {
			t.Fatalf("parsed %q prints as %q", raw, tok.String())
		}
	})
}
