package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

// newLab is the lab's own commands (sanmobd --lab): break devices the way
// another admin or a failing switch would, and read their own truth.
func newLab(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab fault|faults|zone|zonedb|plug|unplug|mappings|clock",
		Short: "Drive the lab's simulated devices (sanmobd --lab): faults, zones deleted behind sanmob's back, the switches' own zone DBs, ports cabled in, the arrays' own maps, the clock",
	}
	cmd.AddCommand(newLabFault(a), newLabFaults(a), newLabZone(a), newLabZoneDB(a), newLabPlug(a), newLabUnplug(a), newLabMappings(a), newLabClock(a))
	return cmd
}

func faultTable(fs ...client.LabFault) *table {
	t := &table{header: []string{"TARGET", "OP", "COUNT", "RATE", "KIND", "LATENCY-MS"}}
	for _, f := range fs {
		count, rate := "-", "-"
		if f.Count > 0 {
			count = strconv.Itoa(f.Count)
		}
		if f.Rate > 0 {
			rate = strconv.FormatFloat(f.Rate, 'g', -1, 64)
		}
		lat := "-"
		if f.LatencyMs > 0 {
			lat = strconv.FormatFloat(f.LatencyMs, 'g', -1, 64)
		}
		t.add(f.Target, f.Op, count, rate, orDash(f.Kind), lat)
	}
	return t
}

func newLabFault(a *app) *cobra.Command {
	var f client.LabFault
	cmd := &cobra.Command{
		Use:   "fault --target T --op OP (--count N|--rate R) [--kind unavailable|final|applied-timeout] [--latency-ms MS]",
		Short: "Make the next operations of a lab device fail or slow down",
		Long: `Make the next operations of a lab device fail or slow down.

--target is a fabric (east-a), an array (east-arr1) or a link (link:east-west; with --op any
it also takes the link down while the fault lasts). --op is read, commit, zone, login, mask,
volume, replicate, move, power or any. --count takes the next N operations, --rate a share
of them. --kind says how they fail (unavailable, the default, is transient); --latency-ms
slows them by that much lab time instead.`,
		Example: "  sanmobctl lab fault --target east-b --op read --count 1\n  sanmobctl lab fault --target east-a --op zone --count 1 --kind final",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				out, err := c.InjectFault(ctx, f)
				if err != nil {
					return err
				}
				return printOut(a.out, "table", out, faultTable(*out))
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Target, "target", "", "the device: a fabric, an array or link:FROM-TO (required)")
	fl.StringVar(&f.Op, "op", "", "the operation: read, commit, zone, login, mask, volume, replicate, move, power, any (required)")
	fl.IntVar(&f.Count, "count", 0, "the next N operations")
	fl.Float64Var(&f.Rate, "rate", 0, "a share (0-1] of the operations")
	fl.StringVar(&f.Kind, "kind", "", "unavailable (default), final or applied-timeout")
	fl.Float64Var(&f.LatencyMs, "latency-ms", 0, "slow the operations by this much lab time instead of failing them")
	_ = cmd.MarkFlagRequired("target")
	_ = cmd.MarkFlagRequired("op")
	return cmd
}

func newLabFaults(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "faults [clear]",
		Short: "List the active injected faults; clear removes them all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] != "clear" {
				return usageErr("lab faults %s: want lab faults or lab faults clear", args[0])
			}
			if err := checkFormat(a.output); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				if len(args) == 1 {
					if err := c.ClearFaults(ctx); err != nil {
						return err
					}
					fmt.Fprintln(a.out, "Cleared every injected fault")
					return nil
				}
				fs, err := c.ListFaults(ctx)
				if err != nil {
					return err
				}
				return printOut(a.out, a.output, fs, faultTable(fs...))
			})
		},
	}
	cmd.Flags().StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	return cmd
}

func newLabZone(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "zone delete FABRIC ZONE", Short: "Change a lab switch's zoning behind sanmob's back"}
	cmd.AddCommand(&cobra.Command{
		Use:   "delete FABRIC ZONE",
		Short: "Remove a zone on a lab switch behind sanmob's back (drift)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.LabDeleteZone(ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Deleted zone %s on the %s switch (sanmob was not told)\n", args[1], args[0])
				return nil
			})
		},
	})
	return cmd
}

func newLabZoneDB(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zonedb FABRIC",
		Short: "A lab switch's own zone DB (the device's truth, not sanmob's model)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				db, err := c.LabZoneDB(ctx, args[0])
				if err != nil {
					return err
				}
				t := &table{header: []string{"NAME", "MEMBERS", "EFFECTIVE"}, wide: []string{"PRINCIPALS"}}
				for _, z := range db.Zones {
					t.add(z.Name, strings.Join(z.Members, ","), yesNo(slices.Contains(db.EffectiveZones, z.Name)), strings.Join(z.Principals, ","))
				}
				return printOut(a.out, a.output, db, t)
			})
		},
	}
	cmd.Flags().StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	return cmd
}

func newLabPlug(a *app) *cobra.Command {
	var p client.LabPort
	cmd := &cobra.Command{
		Use:     "plug FABRIC WWPN --wwnn WWNN [--target]",
		Short:   "Cable a port into a lab switch, as an administrator cabling an array sanmob does not manage",
		Example: "  sanmobctl lab plug east-a 50:0a:09:81:00:00:0a:01 --wwnn 50:0a:09:80:00:00:0a:00 --target",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.WWPN = args[1]
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				l, err := c.LabPlugPort(ctx, args[0], p)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Plugged %s into the %s switch (%s, port %s)\n", l.WWPN, args[0], l.Kind, l.SwitchPort)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&p.WWNN, "wwnn", "", "the port's node name (required)")
	cmd.Flags().BoolVar(&p.Target, "target", false, "a target port (an array's); else an initiator")
	_ = cmd.MarkFlagRequired("wwnn")
	return cmd
}

func newLabUnplug(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unplug FABRIC WWPN",
		Short: "Pull a port lab plug cabled in (the lab's own ports cannot be pulled)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.LabUnplugPort(ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Pulled %s from the %s switch\n", args[1], args[0])
				return nil
			})
		},
	}
}

func newLabMappings(a *app) *cobra.Command {
	var volume string
	cmd := &cobra.Command{
		Use:   "mappings ARRAY [--volume V]",
		Short: "A lab array's own LUN maps (the device's truth, not sanmob's model)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				ms, err := c.LabMappings(ctx, args[0])
				if err != nil {
					return err
				}
				ms = filterBy(ms, volume, func(m client.Mapping) string { return m.Volume })
				t := &table{header: []string{"VOLUME", "LUN", "HOST-GROUP", "WRITABLE", "INITIATORS"}, wide: []string{"TARGET-PORTS"}}
				for _, m := range ms {
					t.add(m.Volume, strconv.Itoa(m.LUN), m.HostGroup, yesNo(m.Writable), strconv.Itoa(len(m.Initiators)), strings.Join(m.TargetPorts, ","))
				}
				return printOut(a.out, a.output, ms, t)
			})
		},
	}
	cmd.Flags().StringVar(&volume, "volume", "", "only this volume's maps")
	cmd.Flags().StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	return cmd
}

func newLabClock(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "clock",
		Short: "The lab's virtual clock (--lab-speed × real time)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				lc, err := c.LabClock(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Lab time %s, %g× real time\n", lc.Now.Format(time.RFC3339), lc.Speed)
				return nil
			})
		},
	}
}
