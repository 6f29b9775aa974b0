package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"authserver/server"
	"authserver/userstore"
)

// minSecretLen is the shortest client secret an operator may supply; a
// generated one has 256 bits.
const minSecretLen = 32

// grantTypes are the grant types a client may be allowed.
var grantTypes = []string{"password", "refresh_token", "client_credentials"}

func init() {
	commands["client create"] = &command{
		usage: "client create --id ID [--name N] --grant G... [--scope S]... [--audience A] [--alg RS256|EdDSA] [--public] [--secret-stdin]",
		setup: func(fs *flag.FlagSet) func(*env) error {
			var c server.Client
			var grants, scopes list
			idFlag(fs, &c.ID)
			fs.StringVar(&c.Name, "name", "", "display name")
			fs.Var(&grants, "grant", "allowed grant type: "+strings.Join(grantTypes, ", ")+" (repeatable, at least one)")
			fs.Var(&scopes, "scope", "allowed scope value (repeatable)")
			fs.StringVar(&c.Audience, "audience", "", "aud claim of the client's access tokens (default: the issuer)")
			fs.StringVar(&c.Alg, "alg", server.RS256, "signing algorithm of the client's access tokens: RS256 or EdDSA")
			fs.BoolVar(&c.Public, "public", false, "a public client, without a secret")
			secretIn := fs.Bool("secret-stdin", false, fmt.Sprintf("read the secret (at least %d characters) from standard input instead of generating one", minSecretLen))
			return func(e *env) error {
				c.Grants, c.Scopes = grants, scopes
				if err := checkClient(&c, *secretIn); err != nil {
					return err
				}
				secret := ""
				if !c.Public {
					secret = rand.Text() + rand.Text()
					if *secretIn {
						var err error
						if secret, err = readSecret(e.stdin, "client secret", minSecretLen); err != nil {
							return err
						}
					}
					c.SecretHash = server.HashSecret(secret)
				}
				return withUsers(e, func(s *userstore.Store) error {
					if _, err := s.CreateClient(e.ctx, c); err != nil {
						return err
					}
					if c.Public || *secretIn {
						fmt.Fprintln(e.stdout, "created client "+c.ID)
						return nil
					}
					fmt.Fprintln(e.stderr, "created client "+c.ID+"; its secret follows on standard output and is shown only now")
					fmt.Fprintln(e.stdout, secret)
					return nil
				})
			}
		},
	}
	commands["client list"] = &command{usage: "client list", setup: noFlags(func(e *env) error {
		return withUsers(e, func(s *userstore.Store) error {
			clients, err := s.Clients(e.ctx)
			if err != nil {
				return err
			}
			return table(e.stdout, []string{"ID", "NAME", "TYPE", "GRANTS", "SCOPES", "AUDIENCE", "ALG", "CREATED"}, len(clients), func(i int) []any {
				c := clients[i]
				kind := "confidential"
				if c.Public {
					kind = "public"
				}
				return []any{c.ID, c.Name, kind, strings.Join(c.Grants, ","), strings.Join(c.Scopes, ","), c.Audience, c.Alg, c.CreatedAt.Format(time.RFC3339)}
			})
		})
	})}
	commands["client rotate-secret"] = &command{
		usage: "client rotate-secret --id ID [--grace 24h]",
		setup: func(fs *flag.FlagSet) func(*env) error {
			var id string
			idFlag(fs, &id)
			grace := duration(24 * time.Hour)
			fs.Var(&grace, "grace", "how long the old secret keeps working")
			return func(e *env) error {
				if id == "" {
					return errors.New("--id is required")
				}
				if grace < 0 || time.Duration(grace) > 30*day {
					return errors.New("--grace: want from 0 to 30d")
				}
				secret := rand.Text() + rand.Text()
				return withUsers(e, func(s *userstore.Store) error {
					if err := s.RotateClientSecret(e.ctx, id, server.HashSecret(secret), time.Duration(grace), time.Now()); err != nil {
						return fmt.Errorf("client %s: %w", id, err)
					}
					fmt.Fprintf(e.stderr, "rotated the secret of client %s; the old one works for %v more; the new one follows on standard output and is shown only now\n", id, time.Duration(grace))
					fmt.Fprintln(e.stdout, secret)
					return nil
				})
			}
		},
	}
	commands["client delete"] = &command{
		usage: "client delete --id ID",
		setup: func(fs *flag.FlagSet) func(*env) error {
			var id string
			idFlag(fs, &id)
			return func(e *env) error {
				if id == "" {
					return errors.New("--id is required")
				}
				return withUsers(e, func(s *userstore.Store) error {
					if err := s.DeleteClient(e.ctx, id); err != nil {
						return fmt.Errorf("client %s: %w", id, err)
					}
					fmt.Fprintln(e.stdout, "deleted client "+id)
					return nil
				})
			}
		},
	}
}

func idFlag(fs *flag.FlagSet, id *string) { fs.StringVar(id, "id", "", "client_id (required)") }

// checkClient reports every problem of a client definition at once.
func checkClient(c *server.Client, secretIn bool) error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.ID == "" || strings.ContainsFunc(c.ID, func(r rune) bool { return r < 0x21 || r == 0x7f }), "--id: want a non-empty client_id without spaces or control characters")
	check(c.Alg != server.RS256 && c.Alg != server.EdDSA, "--alg %q: want RS256 or EdDSA", c.Alg)
	check(len(c.Grants) == 0, "--grant: at least one is required")
	for _, g := range c.Grants {
		check(!slices.Contains(grantTypes, g), "--grant %q: want one of %s", g, strings.Join(grantTypes, ", "))
	}
	for _, s := range c.Scopes {
		check(!server.ScopeToken(s), "--scope %q: not a scope token (RFC 6749 §3.3)", s)
	}
	check(c.Public && secretIn, "--public and --secret-stdin exclude each other")
	check(c.Public && slices.Contains(c.Grants, "client_credentials"), "a public client may not use client_credentials (RFC 6749 §4.4)")
	return errors.Join(errs...)
}
