package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

func newMigrate(a *app) *cobra.Command {
	var to, mode string
	var dryRun, noFollow bool
	cmd := &cobra.Command{
		Use:   "migrate VM --to HOST",
		Short: "Move a VM with its storage: print the plan, start it, follow it to the end",
		Long: `Move a VM with its storage. sanmobctl asks for the plan first and prints
it (kind, estimate, notes); with --dry-run it stops there. Then it starts
the migration and follows its steps until it ends: exit 0 when it
succeeded, 6 when it rolled back or failed. Ctrl-C only detaches: the
migration goes on (follow it again with 'sanmobctl follow ID', stop it with
'sanmobctl abort ID').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageErr("migrate: --to HOST is required")
			}
			if mode != "" && mode != "live" && mode != "cold" {
				return usageErr("--mode %s: want live or cold", mode)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			spec := client.MigrationSpec{VM: args[0], DestinationHost: to, Mode: mode}
			ctx, cancel := a.ctx(cmd)
			plan, err := c.PlanMigration(ctx, spec)
			cancel()
			if err != nil {
				return err
			}
			printPlan(a.out, plan)
			if dryRun {
				return nil
			}
			ctx, cancel = a.ctx(cmd)
			m, _, err := c.CreateMigration(ctx, spec)
			cancel()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Migration %s started (phase %s)\n", m.ID, m.Phase)
			if noFollow {
				return nil
			}
			return follow(cmd.Context(), a, c, m.ID)
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "destination host")
	f.StringVar(&mode, "mode", "", "live|cold (default: the daemon's, live)")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan only")
	f.BoolVar(&noFollow, "no-follow", false, "start it and return")
	return cmd
}

func newFollow(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "follow MIGRATION",
		Short: "Follow a migration's steps until it ends (Ctrl-C detaches)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return follow(cmd.Context(), a, c, args[0])
		},
	}
}

func newAbort(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "abort MIGRATION",
		Short: "Stop a migration and roll it back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			m, err := c.AbortMigration(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Migration %s: abort asked, phase %s (follow it: sanmobctl follow %s)\n", m.ID, m.Phase, m.ID)
			return nil
		},
	}
}

func newEvacuate(a *app) *cobra.Command {
	var to []string
	var mode string
	var maxParallel int
	cmd := &cobra.Command{
		Use:   "evacuate HOST --to H1,H2",
		Short: "Move every VM off a host",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(to) == 0 {
				return usageErr("evacuate: --to H1[,H2…] is required")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			e, err := c.Evacuate(ctx, client.EvacuationSpec{Host: args[0], DestinationHosts: to, Mode: mode, MaxParallel: maxParallel})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Evacuation %s of %s: phase %s, %d/%d done\n", e.ID, e.Host, e.Phase, e.Progress.Done, e.Progress.Total)
			t := &table{header: []string{"VM", "TO", "MIGRATION", "STATE", "REASONS"}}
			for _, m := range e.Migrations {
				t.add(m.VM, orDash(m.DestinationHost), orDash(m.Migration), m.State, orDash(strings.Join(m.Reasons, "; ")))
			}
			return printOut(a.out, "table", e, t)
		},
	}
	cmd.Flags().StringSliceVar(&to, "to", nil, "destination hosts, comma-separated")
	cmd.Flags().StringVar(&mode, "mode", "", "live|cold")
	cmd.Flags().IntVar(&maxParallel, "max-parallel", 0, "migrations at once (0: the daemon's default)")
	return cmd
}

func printPlan(w io.Writer, p *client.Plan) {
	fmt.Fprintf(w, "Plan: %s %s → %s, %s move (%s)\n", p.VM, p.SourceHost, p.DestinationHost, p.Kind, orDash(p.Mode))
	e := p.Estimate
	fmt.Fprintf(w, "  estimate: %s, %s to copy, downtime %.1fs", (time.Duration(e.Seconds * float64(time.Second))).Round(time.Second), bytesStr(e.BytesToCopy), e.DowntimeSeconds)
	if e.Tromboning {
		fmt.Fprint(w, ", tromboning")
	}
	fmt.Fprintln(w)
	for _, n := range e.Notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
	if !p.Feasible {
		fmt.Fprintln(w, "  not feasible:")
		for _, r := range p.Reasons {
			fmt.Fprintf(w, "  ! %s\n", r)
		}
	}
}

// follow prints a migration's steps as they change until it ends, and
// reconnects when the stream breaks. It returns an exit code 6 error when
// the migration rolled back or failed, and an interrupted one when ctx
// ends (Ctrl-C): the migration goes on.
func follow(ctx context.Context, a *app, c *client.Client, id string) error {
	var steps []client.MigrationStep
	start := time.Now()
	printStep := func(name, state, errText string) {
		idx := -1
		for i := range steps {
			if steps[i].Name == name {
				idx = i
				steps[i].State = state
			}
		}
		done := 0
		for _, s := range steps {
			if s.State == "done" {
				done++
			}
		}
		line := fmt.Sprintf("  [%d/%d] %-16s %s", done, len(steps), name, state)
		if idx < 0 {
			line = fmt.Sprintf("  %-22s %s", name, state)
		}
		if errText != "" {
			line += ": " + errText
		}
		fmt.Fprintf(a.out, "%s  (%s)\n", line, time.Since(start).Round(time.Second))
	}
	var last string
	for attempt := 0; ; attempt++ {
		s, err := c.MigrationEvents(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return detached(a, id)
			}
			if client.IsTemporary(err) && attempt < 5 {
				time.Sleep(time.Second)
				continue
			}
			return err
		}
		for e := range s.Events() {
			switch e.Type {
			case "snapshot":
				m := e.Snapshot
				if steps == nil {
					fmt.Fprintf(a.out, "Following %s: %s %s → %s (%s), phase %s\n", m.ID, m.VM, m.SourceHost, m.DestinationHost, m.Kind, m.Phase)
					for _, st := range m.Steps {
						fmt.Fprintf(a.out, "  - %-20s %s\n", st.Name, st.State)
					}
				}
				steps = append(steps[:0], m.Steps...)
				last = m.Phase
			case "step":
				printStep(e.Step, e.State, e.Error)
			case "phase":
				last = e.State
				fmt.Fprintf(a.out, "Phase %s", e.State)
				if e.Error != "" {
					fmt.Fprintf(a.out, ": %s", e.Error)
				}
				fmt.Fprintln(a.out)
			}
		}
		serr := s.Err()
		if ctx.Err() != nil {
			return detached(a, id)
		}
		if client.PhaseEnded(last) {
			break
		}
		if serr != nil && !client.IsTemporary(serr) && !errors.Is(serr, io.ErrUnexpectedEOF) {
			return serr
		}
		// The stream ended early (resync, a dropped connection): read again.
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(a.timeout, 5*time.Second))
	defer cancel()
	m, err := c.GetMigration(gctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "Migration %s %s (%s by the daemon's clock)\n", m.ID, m.Phase, m.UpdatedAt.Sub(m.CreatedAt).Round(time.Millisecond))
	if m.Phase != client.PhaseSucceeded {
		msg := fmt.Sprintf("migration %s ended %s", m.ID, m.Phase)
		if m.Error != "" {
			msg += ": " + m.Error
		}
		return &exitErr{code: exitMigration, err: errors.New(msg)}
	}
	return nil
}

func detached(a *app, id string) error {
	return &exitErr{code: exitInterrupted, err: fmt.Errorf("detached; migration %s goes on. Follow it again: sanmobctl follow %s; stop it: sanmobctl abort %s", id, id, id)}
}
