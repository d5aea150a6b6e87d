package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

func newDescribe(a *app) *cobra.Command {
	var verify bool
	cmd := &cobra.Command{
		Use:   "describe vm VM | describe claim OWNER KEY",
		Short: "Draw a VM's paths: vport → fabric → zone → target port → array → LUN, with its volumes; or a zoning claim's zones",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case args[0] == "claim" && len(args) == 3:
				if verify {
					return usageErr("describe claim: --verify is for a VM")
				}
				return a.call(cmd, func(ctx context.Context, c *client.Client) error {
					cl, err := c.GetClaim(ctx, args[1], args[2])
					if err != nil {
						return err
					}
					drawClaim(a.out, cl)
					return nil
				})
			case args[0] == "claim":
				return usageErr("describe claim OWNER KEY: name the owner and the key")
			case args[0] != "vm":
				return usageErr("describe %s: want vm or claim", args[0])
			case len(args) != 2:
				return usageErr("describe vm VM: one VM")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			topo, err := c.Topology(ctx, args[1], verify)
			if err != nil {
				return err
			}
			drawTopology(a.out, topo)
			return nil
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "check the paths against the devices")
	return cmd
}

// node is a tree node in insertion order.
type node struct {
	label    string
	children []*node
	index    map[string]*node
}

func (n *node) child(key, label string) *node {
	if n.index == nil {
		n.index = map[string]*node{}
	}
	if c, ok := n.index[key]; ok {
		return c
	}
	c := &node{label: label}
	n.index[key] = c
	n.children = append(n.children, c)
	return c
}

func (n *node) draw(w io.Writer, prefix string) {
	for i, c := range n.children {
		branch, next := "├─ ", "│  "
		if i == len(n.children)-1 {
			branch, next = "└─ ", "   "
		}
		fmt.Fprintln(w, prefix+branch+c.label)
		c.draw(w, prefix+next)
	}
}

// drawTopology prints the VM's path tree and its volumes, marking with
// "!" what looks wrong: an active vport not logged in, the daemon's
// issues.
func drawTopology(w io.Writer, t *client.Topology) {
	src := t.Source
	if src == "" {
		src = "model"
	}
	fmt.Fprintf(w, "VM %s on host %s (site %s), from the %s\n", t.VM, t.Host, t.Site, src)
	root := &node{}
	for _, p := range t.Paths {
		state := "standby"
		if p.Active {
			state = "active"
		}
		login := "logged in"
		if !p.LoggedIn {
			login = "not logged in"
		}
		mark := ""
		if p.Active && !p.LoggedIn {
			mark = "! "
		}
		vp := root.child(p.VportWWPN, fmt.Sprintf("%svport %s (set %s, %s, %s) via HBA %s", mark, p.VportWWPN, orDash(p.Set), state, login, orDash(p.HBAWWPN)))
		fab := vp.child(p.Fabric, "fabric "+p.Fabric)
		z := fab.child(p.Zone, "zone "+orDash(p.Zone))
		tp := z.child(p.TargetPortWWPN, "target port "+p.TargetPortWWPN)
		arr := tp.child(p.Array, "array "+p.Array)
		arr.child(fmt.Sprint(p.LUN, p.Volume), fmt.Sprintf("LUN %d  %s", p.LUN, p.Volume))
	}
	fmt.Fprintf(w, "Paths (%d)\n", len(t.Paths))
	if len(t.Paths) == 0 {
		fmt.Fprintln(w, "└─ ! no path")
	}
	root.draw(w, "")
	vols := &node{}
	for _, v := range t.Volumes {
		vn := vols.child(v.ID, fmt.Sprintf("%s  LUN %d  %s/%s  %s (used %s)  %s", v.ID, v.LUN, v.Array, v.Pool, bytesStr(v.SizeBytes), bytesStr(v.UsedBytes), v.WWN))
		for _, s := range v.Snapshots {
			vn.child("s"+s.ID, fmt.Sprintf("snapshot %s  %s  %s", s.Name, s.CreatedAt.Format("2006-01-02 15:04"), bytesStr(s.UsedBytes)))
		}
		if r := v.Replica; r != nil {
			mark := ""
			if r.LagBytes > 0 || (r.State != "" && !strings.EqualFold(r.State, "in-sync") && !strings.EqualFold(r.State, "synchronized")) {
				mark = "! "
			}
			vn.child("r", fmt.Sprintf("%sreplica %s/%s  %s  lag %s", mark, r.Array, r.Volume, r.State, bytesStr(r.LagBytes)))
		}
	}
	fmt.Fprintf(w, "Volumes (%d)\n", len(t.Volumes))
	vols.draw(w, "")
	if len(t.Issues) == 0 {
		fmt.Fprintln(w, "Issues: none")
		return
	}
	fmt.Fprintf(w, "Issues (%d)\n", len(t.Issues))
	for _, is := range t.Issues {
		fmt.Fprintln(w, "! "+is)
	}
}
