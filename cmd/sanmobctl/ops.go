package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

func newAttach(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "attach VOLUME NODE",
		Short: "Present a volume to a host or a VM (mask and zone)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				at, err := c.CreateAttachment(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Attached %s to %s: LUN %d on %s, fabrics %s\n", at.Volume, at.Node, at.LUN, orDash(at.Array), strings.Join(at.Fabrics, ","))
				keys := make([]string, 0, len(at.PublishContext))
				for k := range at.PublishContext {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(a.out, "  %s: %s\n", k, at.PublishContext[k])
				}
				return nil
			})
		},
	}
}

func newDetach(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "detach VOLUME NODE",
		Short: "Undo an attachment (unmask; zones go when nothing needs them)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.DeleteAttachment(ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Detached %s from %s\n", args[0], args[1])
				return nil
			})
		},
	}
}

func newSnapshot(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "snapshot VM NAME | snapshot volume VOLUME NAME",
		Short: "Take a consistent snapshot of all of a VM's volumes, or of one volume",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 3 && args[0] != "volume" {
				return usageErr("snapshot %s: want snapshot VM NAME or snapshot volume VOLUME NAME", strings.Join(args, " "))
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				var snaps []client.Snapshot
				if len(args) == 3 {
					s, err := c.SnapshotVolume(ctx, args[1], args[2])
					if err != nil {
						return err
					}
					snaps = []client.Snapshot{*s}
				} else {
					var err error
					if snaps, err = c.Snapshot(ctx, args[0], args[1]); err != nil {
						return err
					}
				}
				t := &table{header: []string{"ID", "VOLUME", "ARRAY", "GROUP"}}
				for _, s := range snaps {
					t.add(s.ID, s.Volume, s.Array, orDash(s.Group))
				}
				return printOut(a.out, "table", snaps, t)
			})
		},
	}
}

func newReconcile(a *app) *cobra.Command {
	var apply bool
	cmd := &cobra.Command{
		Use:   "reconcile FABRIC [--apply]",
		Short: "Compare a fabric's zoning with sanmob's model; --apply repairs sanmob's own zones",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				r, err := c.Reconcile(ctx, args[0], apply)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Fabric %s: %d missing, %d changed, %d orphans, %d external; repaired: %s\n",
					r.Fabric, len(r.Missing), len(r.Changed), len(r.Orphans), len(r.External), yesNo(r.Repaired))
				for _, kind := range []struct {
					name  string
					items []json.RawMessage
				}{{"missing", r.Missing}, {"changed", r.Changed}, {"orphan", r.Orphans}} {
					for _, it := range kind.items {
						fmt.Fprintf(a.out, "  %s %s\n", kind.name, string(it))
					}
				}
				if !apply && len(r.Missing)+len(r.Changed) > 0 {
					fmt.Fprintf(a.out, "Repair with: sanmobctl reconcile %s --apply\n", r.Fabric)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&apply, "apply", false, "repair sanmob's zones in one transaction")
	return cmd
}

func newAlerts(a *app) *cobra.Command {
	var watch bool
	var labels []string
	cmd := &cobra.Command{
		Use:   "alerts [--watch]",
		Short: "List the alerts; --watch follows their changes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			sel, err := parseSelector(labels)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if !watch {
				ctx, cancel := a.ctx(cmd)
				defer cancel()
				items, err := c.ListAlerts(ctx)
				if err != nil {
					return err
				}
				items = filterAlerts(items, sel, "")
				t := &table{}
				alertTable(t, items)
				return printOut(a.out, a.output, items, t)
			}
			s, err := c.AlertEvents(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			for e := range s.Events() {
				if a.output == "json" || a.output == "yaml" {
					// A stream of documents, one per event (as kubectl -w
					// does): jq and any JSON/YAML stream decoder read it.
					if e.Type != "snapshot" && e.Type != "resync" && len(filterAlerts([]client.Alert{e.Alert}, sel, "")) == 0 {
						continue
					}
					if err := printDoc(a.out, a.output, e); err != nil {
						return err
					}
					continue
				}
				switch e.Type {
				case "snapshot":
					t := &table{}
					alertTable(t, filterAlerts(e.Items, sel, ""))
					if err := printOut(a.out, "table", e.Items, t); err != nil {
						return err
					}
				case "fired", "resolved":
					if len(filterAlerts([]client.Alert{e.Alert}, sel, "")) == 0 {
						continue
					}
					fmt.Fprintf(a.out, "%s %-8s %s %s  %s\n", e.Alert.StartsAt.Format("15:04:05"), strings.ToUpper(e.Type),
						e.Alert.Labels["alertname"], alertObject(e.Alert.Labels), e.Alert.Annotations["summary"])
				case "resync":
					fmt.Fprintln(a.errOut, "the stream fell behind; run again to resume")
				}
			}
			if cmd.Context().Err() != nil {
				return nil // Ctrl-C ends a watch normally
			}
			return s.Err()
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow changes (Ctrl-C ends)")
	cmd.Flags().StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	cmd.Flags().StringSliceVarP(&labels, "selector", "l", nil, "label selector key=value[,key=value]")
	return cmd
}

func newQueueDepths(a *app) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "queue-depths HOST [--watch]",
		Short: "A host's recommended queue depth per LUN",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			show := func(h *client.HostQueueDepths, format string) error {
				t := &table{header: []string{"VOLUME", "LUN", "DEPTH", "LATENCY-MS", "THRESHOLD-MS", "CONGESTED", "REASON"},
					wide: []string{"POOL", "IOPS", "VMS", "PREFERRED-PORTS"}}
				for _, q := range h.Items {
					t.add(q.Volume, fmt.Sprint(q.LUN), fmt.Sprint(q.QueueDepth), fmt.Sprintf("%.1f", q.LatencyMs), fmt.Sprintf("%.0f", q.ThresholdMs),
						yesNo(q.Congested), orDash(q.Reason), q.Pool, fmt.Sprintf("%.0f", q.IOPS), strings.Join(q.VMs, ","), strings.Join(q.PreferredTargetPorts, ","))
				}
				return printOut(a.out, format, h, t)
			}
			if !watch {
				ctx, cancel := a.ctx(cmd)
				defer cancel()
				h, err := c.HostQueueDepths(ctx, args[0])
				if err != nil {
					return err
				}
				return show(h, a.output)
			}
			s, err := c.WatchHostQueueDepths(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			for h := range s.Events() {
				if a.output == "json" || a.output == "yaml" {
					if err := printDoc(a.out, a.output, h); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(a.out, "-- %s %s\n", h.Host, h.At.Format("15:04:05"))
				if err := show(&h, a.output); err != nil {
					return err
				}
			}
			if cmd.Context().Err() != nil {
				return nil
			}
			return s.Err()
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow changes (Ctrl-C ends)")
	cmd.Flags().StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	return cmd
}
