package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"authserver/server"
	"authserver/userstore"
)

// maxPasswordBytes bounds a password read from standard input.
const maxPasswordBytes = 1024

// list is a repeatable string flag; each value may also be a
// comma-separated list (as an environment variable has to be).
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

func init() {
	commands["user create"] = &command{
		usage: "user create --email E [--role R]... [--inactive] (--password-stdin | --password-hash PHC)",
		setup: func(fs *flag.FlagSet) func(*env) error {
			email := emailFlag(fs)
			var roles list
			fs.Var(&roles, "role", "role of the user (repeatable)")
			inactive := fs.Bool("inactive", false, "create the user disabled")
			pwIn := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
			hash := fs.String("password-hash", "", "import an existing Argon2id/Argon2i PHC hash instead of a password")
			return func(e *env) error {
				if *email == "" {
					return errors.New("--email is required")
				}
				if *pwIn == (*hash != "") {
					return errors.New("give exactly one of --password-stdin and --password-hash")
				}
				phc := *hash
				if *pwIn {
					password, err := readSecret(e.stdin, "password", 1)
					if err != nil {
						return err
					}
					if phc, err = e.cfg.Argon2.Hash(password); err != nil {
						return err
					}
				}
				return withUsers(e, func(s *userstore.Store) error {
					u, err := s.CreateUser(e.ctx, server.User{Email: *email, Active: !*inactive, Roles: roles}, phc)
					if err == nil {
						fmt.Fprintf(e.stdout, "created user %s (%s)\n", u.Email, u.ID)
					}
					return err
				})
			}
		},
	}
	setActive := func(active bool) func(*env, *userstore.Store, string) error {
		return func(e *env, s *userstore.Store, email string) error { return s.SetUserActive(e.ctx, email, active) }
	}
	for _, c := range []struct {
		name, done string
		change     func(e *env, s *userstore.Store, email string) error
		// event names the security event of a change that makes the
		// user's earlier tokens inactive; empty for one that does not.
		event string
	}{
		{"disable", "disabled", setActive(false), "user_disabled"},
		{"enable", "enabled", setActive(true), ""},
		{"delete", "deleted", func(e *env, s *userstore.Store, email string) error { return s.DeleteUser(e.ctx, email) }, "user_deleted"},
	} {
		commands["user "+c.name] = &command{
			usage: "user " + c.name + " --email E",
			setup: func(fs *flag.FlagSet) func(*env) error {
				email := emailFlag(fs)
				return func(e *env) error {
					if *email == "" {
						return errors.New("--email is required")
					}
					if err := changeUser(e, *email, c.change, c.event); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "%s user %s\n", c.done, *email)
					return nil
				}
			},
		}
	}
	commands["user import"] = &command{
		usage: "user import --csv FILE",
		setup: func(fs *flag.FlagSet) func(*env) error {
			path := fs.String("csv", "", "CSV file with the columns email, hashed_password, is_active, roles, created_at (required)")
			return func(e *env) error {
				if *path == "" {
					return errors.New("--csv is required")
				}
				f, err := os.Open(*path)
				if err != nil {
					return err
				}
				defer f.Close()
				return withUsers(e, func(s *userstore.Store) error {
					report, err := s.Import(e.ctx, f)
					fmt.Fprintf(e.stdout, "imported %d, skipped %d (already there), rejected %d\n", report.Imported, report.Skipped, len(report.Rejected))
					for _, r := range report.Rejected {
						fmt.Fprintf(e.stdout, "  line %d: %s\n", r.Line, r.Reason)
					}
					if err == nil && len(report.Rejected) > 0 {
						err = fmt.Errorf("%d rows rejected; the others were imported", len(report.Rejected))
					}
					return err
				})
			}
		},
	}
	commands["user unlock"] = &command{
		usage: "user unlock --email E",
		setup: func(fs *flag.FlagSet) func(*env) error {
			email := emailFlag(fs)
			return func(e *env) error {
				if *email == "" {
					return errors.New("--email is required")
				}
				st, err := openStores(e)
				if err != nil {
					return err
				}
				defer st.Close()
				if err := st.tokens.Reset(e.ctx, server.AccountKey(*email)); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "unlocked user %s\n", *email)
				return nil
			}
		},
	}
	commands["user set-password"] = &command{
		usage: "user set-password --email E --password-stdin",
		setup: func(fs *flag.FlagSet) func(*env) error {
			email := emailFlag(fs)
			pwIn := fs.Bool("password-stdin", false, "read the new password from the first line of standard input (required)")
			return func(e *env) error {
				if *email == "" || !*pwIn {
					return errors.New("--email and --password-stdin are required")
				}
				password, err := readSecret(e.stdin, "password", 1)
				if err != nil {
					return err
				}
				hash, err := e.cfg.Argon2.Hash(password)
				if err != nil {
					return err
				}
				err = changeUser(e, *email, func(e *env, s *userstore.Store, email string) error {
					return s.SetPasswordHash(e.ctx, email, hash)
				}, "password_changed")
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "set the password of user %s; its earlier tokens are revoked\n", *email)
				return nil
			}
		},
	}
	commands["user list"] = &command{usage: "user list", setup: noFlags(func(e *env) error {
		return withUsers(e, func(s *userstore.Store) error {
			users, err := s.Users(e.ctx)
			if err != nil {
				return err
			}
			return table(e.stdout, []string{"EMAIL", "ID", "ACTIVE", "ROLES", "CREATED"}, len(users), func(i int) []any {
				u := users[i]
				return []any{u.Email, u.ID, u.Active, strings.Join(u.Roles, ","), u.CreatedAt.Format(time.RFC3339)}
			})
		})
	})}
}

func emailFlag(fs *flag.FlagSet) *string {
	return fs.String("email", "", "email of the user (required)")
}

// changeUser applies change to the user with this email and then, if event
// is not empty, makes every token issued to the user until now inactive (its
// refresh token families and its access tokens) and logs the security event.
func changeUser(e *env, email string, change func(*env, *userstore.Store, string) error, event string) error {
	cutOff := event != ""
	st, err := openStores(e)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.users.User(e.ctx, email)
	if err == nil {
		err = change(e, st.users, email)
	}
	if err != nil {
		return fmt.Errorf("user %s: %w", email, err)
	}
	if !cutOff {
		return nil
	}
	now := time.Now()
	if err := st.tokens.SetCutoff(e.ctx, u.ID, now, now.Add(e.cfg.RefreshLifetime)); err != nil {
		return fmt.Errorf("user %s was changed, but revoking its tokens failed; run the command again: %w", email, err)
	}
	e.cfg.logger(e.stderr).Info("tokens of user cut off", "event", event, "user_id", u.ID)
	return nil
}

// withUsers runs do with the opened user store and closes it.
func withUsers(e *env, do func(*userstore.Store) error) error {
	s, err := openUsers(e)
	if err != nil {
		return err
	}
	defer s.Close()
	return do(s)
}

// readSecret reads a secret from the first line of r: at least min and at
// most maxPasswordBytes bytes, no control characters.
func readSecret(r io.Reader, what string, min int) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case len(line) < min:
		return "", fmt.Errorf("the %s on standard input must have at least %d characters", what, min)
	case len(line) > maxPasswordBytes:
		return "", fmt.Errorf("the %s is longer than %d bytes", what, maxPasswordBytes)
	case strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", fmt.Errorf("the %s holds control characters", what)
	}
	return line, nil
}

// table writes rows under a header, aligned in columns.
func table(w io.Writer, header []string, n int, row func(int) []any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range n {
		for j, c := range row(i) {
			if j > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
