package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

// Exit codes scripts can rely on.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitRefused     = 4
	exitUnavailable = 5
	exitMigration   = 6
	exitInterrupted = 130
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  error
  2  usage (bad command, flag or argument)
  3  not found (404)
  4  conflict or refused (409, 422)
  5  unavailable (503, 429, timeouts, daemon unreachable)
  6  the migration ended rolled-back or failed
  130 interrupted (Ctrl-C) while following a migration, which goes on
      (Ctrl-C ends an --watch of alerts or queue depths normally: 0)`

// exitErr carries an exit code with an error to print.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, client.ErrInvalid) {
		return exitUsage // an argument the client would not send: a claim key with an empty segment
	}
	switch st := client.StatusOf(err); {
	case st == http.StatusNotFound:
		return exitNotFound
	case st == http.StatusConflict || st == http.StatusUnprocessableEntity:
		return exitRefused
	case st == http.StatusBadRequest:
		return exitError
	case client.IsTemporary(err) || errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	}
	return exitError
}

// printError writes err for a person: the problem's detail, invalid
// params and reasons, never a stack.
func printError(w io.Writer, err error) {
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Fprintf(w, "Error: %d %s", e.Status, e.Title)
		if e.Detail != "" {
			fmt.Fprintf(w, ": %s", e.Detail)
		}
		fmt.Fprintln(w)
		for _, p := range e.InvalidParams {
			fmt.Fprintf(w, "  %s: %s\n", p.Name, p.Reason)
		}
		for _, r := range e.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
		if e.Temporary() && e.RetryAfter > 0 {
			fmt.Fprintf(w, "  (retry after %v)\n", e.RetryAfter)
		}
		return
	}
	fmt.Fprintf(w, "Error: %v\n", err)
}

// app is the state the commands share.
type app struct {
	out, errOut io.Writer
	server      string
	tokenFile   string
	contextName string
	configPath  string
	timeout     time.Duration
	output      string
	getenv      func(string) string
	cl          *client.Client
}

// client builds the API client from flags, environment and config.
func (a *app) client() (*client.Client, error) {
	if a.cl != nil {
		return a.cl, nil
	}
	conn, err := a.resolve()
	if err != nil {
		return nil, err
	}
	opts := []client.Option{client.WithUserAgent("sanmobctl")}
	switch {
	case conn.token != "":
		opts = append(opts, client.WithToken(conn.token))
	case conn.tokenFile != "":
		opts = append(opts, client.WithTokenFile(conn.tokenFile))
	}
	if conn.ca != "" {
		opts = append(opts, client.WithCAFile(conn.ca))
	}
	if conn.clientCert != "" || conn.clientKey != "" {
		opts = append(opts, client.WithClientCert(conn.clientCert, conn.clientKey))
	}
	c, err := client.New(conn.server, opts...)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	a.cl = c
	return c, nil
}

// ctx is the context of one call: cmd's, with the --timeout.
func (a *app) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if a.timeout > 0 {
		return context.WithTimeout(cmd.Context(), a.timeout)
	}
	return context.WithCancel(cmd.Context())
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "sanmobctl",
		Short: "sanmobctl drives sanmobd, the SAN VM-mobility daemon, through its REST API",
		Long: `sanmobctl drives sanmobd, the SAN VM-mobility daemon, through its REST API.

Connection: --server and --token-file, else SANMOB_SERVER and SANMOB_TOKEN
(the token itself) or SANMOB_TOKEN_FILE, else the current context of
~/.config/sanmob/config (YAML; SANMOB_CONFIG or --config names another):

  current-context: lab
  contexts:
    lab:
      server: https://sanmob.example:8443
      token-file: ~/.config/sanmob/lab.token
      ca: ~/.config/sanmob/ca.pem          # optional
      client-cert: ~/.config/sanmob/me.pem # optional, mTLS
      client-key: ~/.config/sanmob/me.key

` + exitCodesHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitErr{code: exitUsage, err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", "", "sanmobd's address, http(s)://host:port")
	pf.StringVar(&a.tokenFile, "token-file", "", "file holding the bearer token")
	pf.StringVar(&a.contextName, "context", "", "the config context to use instead of current-context")
	pf.StringVar(&a.configPath, "config", "", "config file (default ~/.config/sanmob/config)")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "time limit of each request (not of following a migration or a watch)")
	root.AddCommand(
		newGet(a), newDescribe(a), newMigrate(a), newFollow(a), newAbort(a), newEvacuate(a),
		newAttach(a), newDetach(a), newClaim(a), newUnclaim(a), newSnapshot(a), newReconcile(a), newAlerts(a), newQueueDepths(a),
		newCreate(a), newDelete(a), newGrow(a), newPool(a), newReports(a), newSet(a),
		newLoginLogout(a, true), newLoginLogout(a, false), newLab(a), newCompletion(a),
	)
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// newCompletion prints a shell's completion script; an unknown shell is a
// usage error (exit 2), not help.
func newCompletion(a *app) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "Print the shell completion script",
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.out, true)
			case "zsh":
				return root.GenZshCompletion(a.out)
			case "fish":
				return root.GenFishCompletion(a.out, true)
			default:
				return root.GenPowerShellCompletionWithDesc(a.out)
			}
		},
	}
}

// run runs sanmobctl with args and returns its exit code.
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	return runWith(ctx, args, out, errOut, nil)
}

func runWith(ctx context.Context, args []string, out, errOut io.Writer, getenv func(string) string) int {
	a := &app{out: out, errOut: errOut, getenv: getenv}
	if a.getenv == nil {
		a.getenv = osGetenv
	}
	root := newRoot(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if isCobraUsage(err) {
		err = &exitErr{code: exitUsage, err: err}
	}
	printError(errOut, err)
	if exitCode(err) == exitUsage {
		fmt.Fprintln(errOut, "Run 'sanmobctl --help' for usage.")
	}
	return exitCode(err)
}

// isCobraUsage recognises the errors cobra makes of bad commands and
// arguments.
func isCobraUsage(err error) bool {
	var ee *exitErr
	if errors.As(err, &ee) {
		return false
	}
	if client.StatusOf(err) != 0 {
		return false
	}
	m := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs", "required flag"} {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// call runs f with a client and a request context (the --timeout), the
// preamble every one-shot command shares.
func (a *app) call(cmd *cobra.Command, f func(ctx context.Context, c *client.Client) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	return f(ctx, c)
}
