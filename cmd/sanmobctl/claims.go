package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

// claimsTable lists zoning claims, one a row.
func claimsTable(t *table, items []client.Claim) {
	t.header = []string{"OWNER", "KEY", "STATE", "FABRICS", "ZONES", "UNREACHED"}
	t.wide = []string{"POLICY", "INITIATORS", "TARGETS", "UPDATED"}
	for _, cl := range items {
		t.add(cl.Owner, cl.Key, orDash(cl.State), orDash(strings.Join(cl.Fabrics, ",")), strconv.Itoa(len(cl.Zones)), strconv.Itoa(len(cl.Unreached)),
			orDash(cl.Policy), strings.Join(cl.Initiators, ","), strings.Join(cl.Targets, ","), cl.UpdatedAt.Format(time.RFC3339))
	}
}

// drawClaim prints a claim for a person: what it asks, the zones that
// serve it by fabric, and with "!" the WWPNs that reach nothing.
func drawClaim(w io.Writer, cl *client.Claim) {
	policy := cl.Policy
	if policy == "" {
		policy = "each fabric's own"
	}
	fmt.Fprintf(w, "Claim %s %s: %s (policy: %s)\n", cl.Owner, cl.Key, orDash(cl.State), policy)
	fmt.Fprintf(w, "Created %s, updated %s\n", cl.CreatedAt.Format(time.RFC3339), cl.UpdatedAt.Format(time.RFC3339))
	for _, side := range []struct {
		name  string
		wwpns []string
	}{{"Initiators", cl.Initiators}, {"Targets", cl.Targets}} {
		fmt.Fprintf(w, "%s (%d)\n", side.name, len(side.wwpns))
		n := &node{}
		for _, p := range side.wwpns {
			n.child(p, p)
		}
		n.draw(w, "")
	}
	fmt.Fprintf(w, "Zones (%d)\n", len(cl.Zones))
	zones := &node{}
	for _, z := range cl.Zones {
		zones.child(z.Fabric, "fabric "+z.Fabric).child(z.Name, fmt.Sprintf("zone %s  %s", z.Name, strings.Join(z.Members, ",")))
	}
	zones.draw(w, "")
	unreachedLines(w, cl)
}

// unreachedLines says which WWPNs of the claim reach nothing.
func unreachedLines(w io.Writer, cl *client.Claim) {
	if len(cl.Unreached) == 0 {
		fmt.Fprintln(w, "Unreached: none")
		return
	}
	fmt.Fprintf(w, "Unreached (%d)\n", len(cl.Unreached))
	for _, u := range cl.Unreached {
		fmt.Fprintf(w, "! %s %s: %s\n", u.Role, u.WWPN, u.Reason)
	}
}

func newClaim(a *app) *cobra.Command {
	var spec client.ClaimSpec
	cmd := &cobra.Command{
		Use:   "claim OWNER KEY --initiator WWPN... --target WWPN... [--policy sist|peer]",
		Short: "Zone initiators to targets on every fabric they share, under a claim OWNER KEY (create or replace)",
		Long: `Zone initiators to targets on every fabric they share, under the zoning claim OWNER KEY.

A claim is what a CSI driver that masks its own volumes asks of sanmob: OWNER is the
driver's name, KEY by convention VOLUME/NODE. Claiming again with the same WWPNs
changes nothing; with others it replaces the claim. It succeeds when at least one
initiator shares a fabric with a target; the WWPNs that reach nothing are marked "!".
A WWPN logged in on no fabric (422), or initiators and targets on no common fabric
(409), exit 4: the cabling or the zoning must change first.`,
		Example: "  sanmobctl claim fc.vendor.example.com pvc-1234/node-a \\\n" +
			"    --initiator 10:00:00:00:c9:aa:00:01 --initiator 10:00:00:00:c9:aa:00:02 \\\n" +
			"    --target 50:0a:09:80:00:00:00:01,50:0a:09:80:00:00:00:02",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			switch spec.Policy {
			case "", "sist", "peer":
			default:
				return usageErr("--policy %s: want sist or peer", spec.Policy)
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				cl, err := c.PutClaim(ctx, args[0], args[1], spec)
				if err != nil {
					return err
				}
				if a.output == "json" || a.output == "yaml" {
					return printOut(a.out, a.output, cl, nil)
				}
				fmt.Fprintf(a.out, "Claimed %s %s: %s, zoned on %s\n", cl.Owner, cl.Key, orDash(cl.State), orDash(strings.Join(cl.Fabrics, ",")))
				t := &table{header: []string{"FABRIC", "ZONE", "MEMBERS"}}
				for _, z := range cl.Zones {
					t.add(z.Fabric, z.Name, strings.Join(z.Members, ","))
				}
				if err := printOut(a.out, "table", cl, t); err != nil {
					return err
				}
				unreachedLines(a.out, cl)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&spec.Initiators, "initiator", nil, "an initiator WWPN (repeat, or separate with commas)")
	f.StringSliceVar(&spec.Targets, "target", nil, "a target WWPN (repeat, or separate with commas)")
	f.StringVar(&spec.Policy, "policy", "", "sist (a zone per initiator and target) or peer; default: each fabric's configured policy")
	f.StringVarP(&a.output, "output", "o", "table", "table|json|yaml")
	_ = cmd.MarkFlagRequired("initiator")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}

func newUnclaim(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unclaim OWNER KEY",
		Short: "Release a zoning claim; its zones go when no other claim or attachment needs them (a claim that is not there is no error)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.DeleteClaim(ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Released claim %s %s\n", args[0], args[1])
				return nil
			})
		},
	}
}
