package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims are the claims of a verified access token (RFC 9068 §2.2).
// NotBefore, AuthTime and SessionID are zero when the token has none.
type Claims struct {
	Issuer    string
	Subject   string // the user id
	ClientID  string
	JTI       string
	SessionID string // sid: the refresh-token family the token was born in
	Audience  []string
	Scopes    []string // scope, split at spaces (RFC 6749 §3.3)
	Roles     []string
	Expiry    time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	AuthTime  time.Time
}

// HasScope reports whether the token grants scope s.
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.Scopes, s) }

// HasRole reports whether the token's user has role r.
func (c *Claims) HasRole(r string) bool { return slices.Contains(c.Roles, r) }

// claims is the JSON form of the payload (RFC 7519 §4, RFC 9068 §2.2).
type claims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  audience    `json:"aud"`
	Expiry    numericDate `json:"exp"`
	IssuedAt  numericDate `json:"iat"`
	NotBefore numericDate `json:"nbf"`
	AuthTime  numericDate `json:"auth_time"`
	ID        string      `json:"jti"`
	ClientID  string      `json:"client_id"`
	Scope     string      `json:"scope"`
	Roles     []string    `json:"roles"`
	SessionID string      `json:"sid"`
}

func (c *claims) export() *Claims {
	return &Claims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		JTI:       c.ID,
		SessionID: c.SessionID,
		Audience:  c.Audience,
		Scopes:    strings.Fields(c.Scope),
		Roles:     c.Roles,
		Expiry:    c.Expiry.Time,
		IssuedAt:  c.IssuedAt.Time,
		NotBefore: c.NotBefore.Time,
		AuthTime:  c.AuthTime.Time,
	}
}

// audience is the aud claim: one string or an array of strings
// (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		if bytes.IndexByte(b, '\\') < 0 {
			// A string without escapes, the common case, needs no decoder.
			*a = audience{string(b[1 : len(b)-1])}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// maxNumericDate is 9999-12-31T23:59:59Z, the last date accepted, far
// enough for any token and small enough for time.Unix.
const maxNumericDate = 253402300799

// numericDate is a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional. It is the zero time when the claim is absent.
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f > maxNumericDate {
		return fmt.Errorf("%s is not a NumericDate (RFC 7519 §2)", b)
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}
