package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

// parseSize reads a byte count: plain bytes, or a number with a binary
// (Ki, Mi, Gi, Ti, Pi) or decimal (K, M, G, T, P) unit.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
		{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*mult > 1<<62 {
		return 0, usageErr("--size %s: want a positive size such as 100Gi, 500G or 1073741824", s)
	}
	return int64(f * mult), nil
}

func volumeTable(vols ...*client.Volume) *table {
	t := &table{header: []string{"ID", "NAME", "ARRAY", "POOL", "SIZE", "THIN"}, wide: []string{"USED", "WWN"}}
	for _, v := range vols {
		t.add(v.ID, v.Name, v.Array, v.Pool, bytesStr(v.SizeBytes), yesNo(v.Thin), bytesStr(v.UsedBytes), v.WWN)
	}
	return t
}

func newCreate(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "create volume|host|vm", Short: "Create a volume, a host or a VM"}
	cmd.AddCommand(newCreateVolume(a), newCreateHost(a), newCreateVM(a))
	return cmd
}

func newCreateVolume(a *app) *cobra.Command {
	var spec client.VolumeSpec
	var size string
	var thin bool
	cmd := &cobra.Command{
		Use:     "volume NAME --size SIZE [--site S|--array A|--pool P] [--thin=false]",
		Short:   "Create a volume after thin admission (idempotent by name)",
		Example: "  sanmobctl create volume db-data --id db-data --size 100Gi --site east",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			n, err := parseSize(size)
			if err != nil {
				return err
			}
			spec.Name, spec.SizeBytes = args[0], n
			if cmd.Flags().Changed("thin") {
				spec.Thin = &thin
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				v, err := c.CreateVolume(ctx, spec)
				if err != nil {
					return err
				}
				return printOut(a.out, a.output, v, volumeTable(v))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&size, "size", "", "size, e.g. 100Gi (required)")
	f.StringVar(&spec.ID, "id", "", "the volume's id (default: made from the name)")
	f.StringVar(&spec.Site, "site", "", "place it at this site")
	f.StringVar(&spec.Array, "array", "", "place it on this array")
	f.StringVar(&spec.Pool, "pool", "", "place it in this pool")
	f.StringVar(&spec.FromSnapshot, "from-snapshot", "", "a copy of this snapshot")
	f.BoolVar(&thin, "thin", true, "thin-provisioned")
	f.StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	_ = cmd.MarkFlagRequired("size")
	return cmd
}

// parseHBA reads --hba WWPN,WWNN,FABRIC.
func parseHBA(s string) (client.HBASpec, error) {
	p := strings.Split(s, ",")
	if len(p) != 3 || p[0] == "" || p[1] == "" || p[2] == "" {
		return client.HBASpec{}, usageErr("--hba %s: want WWPN,WWNN,FABRIC", s)
	}
	return client.HBASpec{WWPN: p[0], WWNN: p[1], Fabric: p[2]}, nil
}

func newCreateHost(a *app) *cobra.Command {
	var site string
	var hbas []string
	cmd := &cobra.Command{
		Use:     "host ID --site SITE --hba WWPN,WWNN,FABRIC ...",
		Short:   "Add a host with its HBAs",
		Example: "  sanmobctl create host esx-new --site east --hba 10:00:00:00:c9:aa:00:01,20:00:00:00:c9:aa:00:01,east-a \\\n    --hba 10:00:00:00:c9:aa:00:02,20:00:00:00:c9:aa:00:02,east-b",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := client.HostSpec{ID: args[0], Site: site}
			for _, h := range hbas {
				b, err := parseHBA(h)
				if err != nil {
					return err
				}
				spec.HBAs = append(spec.HBAs, b)
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				h, err := c.CreateHost(ctx, spec)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Created host %s at %s\n", h.ID, h.Site)
				for _, b := range h.HBAs {
					fmt.Fprintf(a.out, "  HBA %s on %s (up to %d vports)\n", b.WWPN, b.Fabric, b.MaxVports)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "the host's site (required)")
	cmd.Flags().StringArrayVar(&hbas, "hba", nil, "an HBA: WWPN,WWNN,FABRIC (repeat for each)")
	_ = cmd.MarkFlagRequired("site")
	_ = cmd.MarkFlagRequired("hba")
	return cmd
}

func newCreateVM(a *app) *cobra.Command {
	var spec client.VMSpec
	cmd := &cobra.Command{
		Use:   "vm ID --host HOST [--shares N]",
		Short: "Add a VM; its vports are generated (an NPIV pair, sets a and b, per fabric of its host)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.ID = args[0]
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				v, err := c.CreateVM(ctx, spec)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Created VM %s on %s\n", v.ID, v.Host)
				for _, p := range v.Vports {
					fmt.Fprintf(a.out, "  vport %s set %s on %s\n", p.WWPN, p.Set, p.Fabric)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&spec.Host, "host", "", "the VM's host (required)")
	cmd.Flags().IntVar(&spec.Shares, "shares", 0, "I/O shares (default: the daemon's)")
	_ = cmd.MarkFlagRequired("host")
	return cmd
}

func newDelete(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "delete volume ID", Short: "Delete a volume"}
	cmd.AddCommand(&cobra.Command{
		Use:   "volume ID",
		Short: "Delete a volume that is attached nowhere",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.DeleteVolume(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Deleted volume %s\n", args[0])
				return nil
			})
		},
	})
	return cmd
}

func newGrow(a *app) *cobra.Command {
	var size string
	cmd := &cobra.Command{Use: "grow volume ID --size SIZE", Short: "Grow a volume"}
	vol := &cobra.Command{
		Use:   "volume ID --size SIZE",
		Short: "Grow a volume to SIZE (never shrinks)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseSize(size)
			if err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				v, err := c.GrowVolume(ctx, args[0], n)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Volume %s is %s\n", v.ID, bytesStr(v.SizeBytes))
				return nil
			})
		},
	}
	vol.Flags().StringVar(&size, "size", "", "the new size, e.g. 200Gi (required)")
	_ = vol.MarkFlagRequired("size")
	cmd.AddCommand(vol)
	return cmd
}

func newPool(a *app) *cobra.Command {
	var since string
	cmd := &cobra.Command{Use: "pool history POOL [--since T]", Short: "A pool's history"}
	hist := &cobra.Command{
		Use:     "history POOL [--since RFC3339|DURATION]",
		Short:   "A pool's used and provisioned bytes over time (raw for two days, hourly means before)",
		Example: "  sanmobctl pool history east-arr1-pool1 --since 2026-03-01T00:00:00Z\n  sanmobctl pool history west-arr1-pool1 --since 6h",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			var from time.Time
			if since != "" {
				if d, err := time.ParseDuration(since); err == nil {
					from = time.Now().Add(-d)
				} else if from, err = time.Parse(time.RFC3339, since); err != nil {
					return usageErr("--since %s: want an RFC 3339 time or a duration such as 6h", since)
				}
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				pts, err := c.PoolHistory(ctx, args[0], from)
				if err != nil {
					return err
				}
				t := &table{header: []string{"AT", "USED", "PROVISIONED"}}
				for _, p := range pts {
					t.add(p.At.Format(time.RFC3339), bytesStr(p.UsedBytes), bytesStr(p.ProvisionedBytes))
				}
				return printOut(a.out, a.output, pts, t)
			})
		},
	}
	hist.Flags().StringVar(&since, "since", "", "only points at or after this time (RFC 3339), or this long before now (a duration, e.g. 6h, on this machine's clock; the lab's clock runs ahead)")
	hist.Flags().StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	cmd.AddCommand(hist)
	return cmd
}

func newReports(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "reports dark-storage", Short: "Reports"}
	ds := &cobra.Command{
		Use:   "dark-storage",
		Short: "Volumes allocated but presented to nothing, or only to nodes the inventory no longer has",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				r, err := c.DarkStorage(ctx)
				if err != nil {
					return err
				}
				if a.output == "json" || a.output == "yaml" {
					return printOut(a.out, a.output, r, nil)
				}
				t := &table{header: []string{"VOLUME", "NAME", "ARRAY", "PROVISIONED", "USED", "REASON", "DARK-SINCE"}, wide: []string{"POOL", "DETAIL"}}
				for _, d := range r.Items {
					t.add(d.Volume, d.Name, d.Array, bytesStr(d.ProvisionedBytes), bytesStr(d.UsedBytes), d.Reason, d.DarkSince.Format(time.RFC3339), d.Pool, d.Detail)
				}
				if err := printOut(a.out, a.output, r, t); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Total: %d volumes, %s provisioned, %s used\n", r.Totals.Volumes, bytesStr(r.Totals.ProvisionedBytes), bytesStr(r.Totals.UsedBytes))
				if len(r.UnreadArrays) > 0 {
					fmt.Fprintf(a.out, "Not judged (arrays not read yet): %s\n", strings.Join(r.UnreadArrays, ","))
				}
				return nil
			})
		},
	}
	ds.Flags().StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	cmd.AddCommand(ds)
	return cmd
}

func newSet(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "set shares VM N", Short: "Change a setting"}
	cmd.AddCommand(&cobra.Command{
		Use:   "shares VM N",
		Short: "Set a VM's I/O shares (they weigh its hosts' queue depths)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return usageErr("shares %s: want a whole number", args[1])
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				v, err := c.SetShares(ctx, args[0], n)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "VM %s: shares %d\n", v.ID, v.Shares)
				return nil
			})
		},
	})
	return cmd
}

func newLoginLogout(a *app, login bool) *cobra.Command {
	verb, short := "logout", "Log a VM's vport out of its fabric"
	if login {
		verb, short = "login", "Log a VM's vport in through its host's HBA (refused when the WWPN is logged in anywhere)"
	}
	return &cobra.Command{
		Use:   verb + " VM WWPN",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				f, done := c.LogoutVport, "Logged out"
				if login {
					f, done = c.LoginVport, "Logged in"
				}
				if err := f(ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "%s %s of %s\n", done, args[1], args[0])
				return nil
			})
		},
	}
}
