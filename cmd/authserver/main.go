// Command authserver is an OAuth 2.0 authorization server: it serves tokens
// and manages users, clients and signing keys. Run "authserver help".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// env is what a command runs with.
type env struct {
	ctx    context.Context
	cfg    Config
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand: its usage line, and a setup that registers its
// own flags on a fresh flag set and returns its action.
type command struct {
	usage string
	setup func(fs *flag.FlagSet) func(e *env) error
}

// commands maps "user create" and the like to their command.
var commands = map[string]*command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	name, rest := commandName(args)
	if name == "help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "authserver: unknown command %q\n\n", strings.Join(args, " "))
		usage(stderr)
		return 2
	}
	e := &env{ctx: ctx, cfg: defaults(), stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("authserver "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: authserver %s\n\nflags (settings also from %s* environment variables):\n", cmd.usage, envPrefix)
		fs.PrintDefaults()
	}
	action := cmd.setup(fs)
	e.cfg.register(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	e.args = fs.Args()
	if len(e.args) > 0 {
		fmt.Fprintf(stderr, "authserver %s: unexpected argument %q\n", name, e.args[0])
		return 2
	}
	err := applyEnv(fs, getenv)
	e.cfg.KeyEncryptionKey = getenv(kekEnv)
	if err == nil {
		err = e.cfg.Validate()
	}
	if err == nil {
		err = action(e)
	}
	if err != nil {
		fmt.Fprintf(stderr, "authserver %s: %v\n", name, err)
		return 1
	}
	return 0
}

// commandName splits args into the longest known command name and the rest.
// No name, or flags only, mean "serve".
func commandName(args []string) (string, []string) {
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "-help") {
		return "serve", args
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		return "help", nil
	}
	if len(args) > 1 {
		if _, ok := commands[args[0]+" "+args[1]]; ok {
			return args[0] + " " + args[1], args[2:]
		}
	}
	return args[0], args[1:]
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: authserver <command> [flags]   (no command: serve)")
	fmt.Fprintln(w, "\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n", commands[n].usage)
	}
	fmt.Fprintln(w, "\nRun \"authserver <command> --help\" for the flags of a command.")
}

func init() {
	commands["version"] = &command{usage: "version", setup: noFlags(func(e *env) error {
		rev := ""
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = " " + s.Value
				}
			}
			fmt.Fprintf(e.stdout, "authserver %s%s %s\n", version, rev, bi.GoVersion)
			return nil
		}
		fmt.Fprintf(e.stdout, "authserver %s\n", version)
		return nil
	})}
}

// noFlags is the setup of a command without flags of its own.
func noFlags(run func(e *env) error) func(*flag.FlagSet) func(*env) error {
	return func(*flag.FlagSet) func(*env) error { return run }
}
