package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/spf13/cobra"
)

var getKinds = []string{"sites", "links", "fabrics", "logins", "zones", "hosts", "vms", "arrays", "volumes", "pools", "snapshots", "attachments", "claims", "migrations", "evacuations", "alerts", "replication"}

// fabricKinds are listed per fabric: get logins FABRIC, get zones FABRIC.
var fabricKinds = map[string]bool{"logins": true, "zones": true}

var kindAliases = map[string]string{
	"site": "sites", "fabric": "fabrics", "host": "hosts", "vm": "vms", "volume": "volumes", "vol": "volumes",
	"pool": "pools", "attachment": "attachments", "migration": "migrations", "alert": "alerts",
	"replication-groups": "replication", "repl": "replication",
	"link": "links", "login": "logins", "zone": "zones", "array": "arrays", "snapshot": "snapshots", "snap": "snapshots",
	"evacuation": "evacuations", "claim": "claims",
}

func newGet(a *app) *cobra.Command {
	var site, host, array, pool, volume, owner string
	var labels []string
	cmd := &cobra.Command{
		Use:       "get " + strings.Join(getKinds, "|") + " [FABRIC]",
		Short:     "List resources",
		Example:   "  sanmobctl get vms --site east\n  sanmobctl get zones east-a\n  sanmobctl get alerts -l severity=critical -o json\n  sanmobctl get claims --owner fc.vendor.example.com -o wide",
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: getKinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(a.output); err != nil {
				return err
			}
			kind := args[0]
			if k, ok := kindAliases[kind]; ok {
				kind = k
			}
			fabricID := ""
			switch {
			case fabricKinds[kind] && len(args) != 2:
				return usageErr("get %s FABRIC: name the fabric", kind)
			case fabricKinds[kind]:
				fabricID = args[1]
			case len(args) == 2:
				return usageErr("get %s takes no name", kind)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			t := &table{}
			var v any
			switch kind {
			case "sites":
				items, err := c.ListSites(ctx)
				if err != nil {
					return err
				}
				t.header = []string{"ID"}
				for _, s := range items {
					t.add(s.ID)
				}
				v = items
			case "links":
				items, err := c.ListLinks(ctx)
				if err != nil {
					return err
				}
				t.header = []string{"FROM", "TO", "RTT-MS", "BANDWIDTH-MBPS", "DISTANCE-KM"}
				for _, l := range items {
					t.add(l.From, l.To, fmt.Sprintf("%.1f", l.RTTMs), fmt.Sprintf("%.0f", l.BandwidthMbps), fmt.Sprintf("%.0f", l.DistanceKm))
				}
				v = items
			case "logins":
				items, err := c.ListLogins(ctx, fabricID)
				if err != nil {
					return err
				}
				t.header = []string{"WWPN", "KIND", "NPIV", "PHYSICAL-WWPN", "PORT"}
				t.wide = []string{"WWNN", "PORT-ID", "LOGGED-IN"}
				for _, l := range items {
					at := "-"
					if l.LoggedInAt != nil {
						at = l.LoggedInAt.Format(time.RFC3339)
					}
					t.add(l.WWPN, l.Kind, yesNo(l.NPIV), orDash(l.PhysicalWWPN), l.SwitchPort, l.WWNN, l.PortID, at)
				}
				v = items
			case "zones":
				items, err := c.ListZones(ctx, fabricID)
				if err != nil {
					return err
				}
				t.header = []string{"NAME", "OWNER", "EFFECTIVE", "MEMBERS", "USERS"}
				t.wide = []string{"MEMBER-WWPNS"}
				for _, z := range items {
					t.add(z.Name, z.Owner, yesNo(z.Effective), strconv.Itoa(len(z.Members)+len(z.Peer)), orDash(strings.Join(z.Users, ",")),
						strings.Join(append(append([]string{}, z.Peer...), z.Members...), ","))
				}
				v = items
			case "arrays":
				items, err := c.ListArrays(ctx)
				if err != nil {
					return err
				}
				items = filterBy(items, site, func(ar client.Array) string { return ar.Site })
				t.header = []string{"ID", "SITE", "POOLS", "VOLUMES", "TARGET-PORTS", "REACHABLE"}
				t.wide = []string{"DRIVER", "MODEL", "PORTS"}
				for _, ar := range items {
					reach := "?"
					if ar.Status != nil {
						reach = yesNo(ar.Status.Reachable)
					}
					var ports []string
					for _, p := range ar.TargetPorts {
						ports = append(ports, p.WWPN+"@"+orDash(p.Fabric))
					}
					t.add(ar.ID, ar.Site, strings.Join(ar.Pools, ","), strconv.Itoa(ar.VolumeCount), strconv.Itoa(len(ar.TargetPorts)), reach,
						ar.Driver, strings.TrimSpace(ar.Info.Vendor+" "+ar.Info.Model), strings.Join(ports, ","))
				}
				v = items
			case "snapshots":
				items, err := c.ListSnapshots(ctx, volume)
				if err != nil {
					return err
				}
				t.header = []string{"ID", "NAME", "VOLUME", "ARRAY", "CREATED"}
				t.wide = []string{"GROUP", "USED"}
				for _, s := range items {
					t.add(s.ID, s.Name, s.Volume, s.Array, s.CreatedAt.Format(time.RFC3339), orDash(s.Group), bytesStr(s.UsedBytes))
				}
				v = items
			case "evacuations":
				items, err := c.ListEvacuations(ctx)
				if err != nil {
					return err
				}
				t.header = []string{"ID", "HOST", "DESTINATIONS", "PHASE", "DONE", "COPIED"}
				t.wide = []string{"MAX-PARALLEL", "CREATED"}
				for _, e := range items {
					t.add(e.ID, e.Host, strings.Join(e.DestinationHosts, ","), e.Phase, fmt.Sprintf("%d/%d", e.Progress.Done, e.Progress.Total),
						bytesStr(e.Progress.BytesCopied)+"/"+bytesStr(e.Progress.BytesTotal), strconv.Itoa(e.MaxParallel), e.CreatedAt.Format(time.RFC3339))
				}
				v = items
			case "fabrics":
				items, err := c.ListFabrics(ctx)
				if err != nil {
					return err
				}
				items = filterBy(items, site, func(f client.Fabric) string { return f.Site })
				t.header = []string{"ID", "SITE", "ZONES", "LOGINS", "REACHABLE"}
				t.wide = []string{"DRIVER", "ZONE-DB", "POLICY", "LAST-COMMIT"}
				for _, f := range items {
					reach := "?"
					if f.Status != nil {
						reach = yesNo(f.Status.Reachable)
					}
					last := "-"
					if f.LastCommitAt != nil {
						last = f.LastCommitAt.Format(time.RFC3339)
					}
					t.add(f.ID, f.Site, strconv.Itoa(f.ZoneCount), strconv.Itoa(f.LoginCount), reach,
						f.Driver, fmt.Sprintf("%s/%s", bytesStr(f.ZoneDBBytes), bytesStr(f.ZoneDBMaxBytes)), orDash(f.ZonePolicy), last)
				}
				v = items
			case "hosts":
				items, err := c.ListHosts(ctx, client.HostFilter{Site: site})
				if err != nil {
					return err
				}
				t.header = []string{"ID", "SITE", "HBAS", "VPORTS"}
				t.wide = []string{"FABRICS", "HBA-WWPNS"}
				for _, h := range items {
					used, maxV := 0, 0
					var fabrics, wwpns []string
					for _, b := range h.HBAs {
						used += b.VportsInUse
						maxV += b.MaxVports
						fabrics = append(fabrics, b.Fabric)
						wwpns = append(wwpns, b.WWPN)
					}
					t.add(h.ID, h.Site, strconv.Itoa(len(h.HBAs)), fmt.Sprintf("%d/%d", used, maxV),
						strings.Join(fabrics, ","), strings.Join(wwpns, ","))
				}
				v = items
			case "vms":
				items, err := c.ListVMs(ctx, client.VMFilter{Site: site, Host: host})
				if err != nil {
					return err
				}
				t.header = []string{"ID", "HOST", "SITE", "VPORTS", "VOLUMES"}
				t.wide = []string{"SHARES", "ACTIVE-WWPNS"}
				for _, vm := range items {
					in, active := 0, []string{}
					for _, p := range vm.Vports {
						if p.LoggedIn {
							in++
						}
						if p.Active {
							active = append(active, p.WWPN)
						}
					}
					t.add(vm.ID, vm.Host, vm.Site, fmt.Sprintf("%d/%d logged in", in, len(vm.Vports)), strconv.Itoa(len(vm.Volumes)),
						strconv.Itoa(vm.Shares), strings.Join(active, ","))
				}
				v = items
			case "volumes":
				items, err := c.ListVolumes(ctx, client.VolumeFilter{Array: array, Pool: pool})
				if err != nil {
					return err
				}
				t.header = []string{"ID", "ARRAY", "POOL", "SIZE", "USED"}
				t.wide = []string{"THIN", "WWN"}
				for _, vol := range items {
					t.add(vol.ID, vol.Array, vol.Pool, bytesStr(vol.SizeBytes), bytesStr(vol.UsedBytes), yesNo(vol.Thin), vol.WWN)
				}
				v = items
			case "pools":
				items, err := c.ListPools(ctx, client.PoolFilter{Array: array})
				if err != nil {
					return err
				}
				items = filterBy(items, site, func(p client.Pool) string { return p.Site })
				t.header = []string{"ID", "ARRAY", "USED%", "OVERCOMMIT", "DAYS-TO-FULL"}
				t.wide = []string{"SITE", "MEDIA", "PHYSICAL", "USED", "PROVISIONED"}
				for _, p := range items {
					days := "-"
					if p.DaysToFull != nil {
						days = fmt.Sprintf("%.1f", *p.DaysToFull)
					}
					t.add(p.ID, p.Array, fmt.Sprintf("%.1f", p.UsedPercent), fmt.Sprintf("%.2f/%.2f", p.Overcommit, p.MaxOvercommit), days,
						p.Site, orDash(p.Media), bytesStr(p.PhysicalBytes), bytesStr(p.UsedBytes), bytesStr(p.ProvisionedBytes))
				}
				v = items
			case "attachments":
				items, err := c.ListAttachments(ctx, volume)
				if err != nil {
					return err
				}
				t.header = []string{"VOLUME", "NODE", "LUN", "STATE"}
				t.wide = []string{"ARRAY", "FABRICS", "LAST-ERROR"}
				for _, at := range items {
					t.add(at.Volume, at.Node, strconv.Itoa(at.LUN), orDash(at.State), orDash(at.Array), strings.Join(at.Fabrics, ","), orDash(at.LastError))
				}
				v = items
			case "claims":
				items, err := c.ListClaims(ctx, owner)
				if err != nil {
					return err
				}
				claimsTable(t, items)
				v = items
			case "migrations":
				items, err := c.ListMigrations(ctx)
				if err != nil {
					return err
				}
				t.header = []string{"ID", "VM", "FROM", "TO", "KIND", "PHASE", "STEPS"}
				t.wide = []string{"MODE", "CREATED", "ERROR"}
				for _, m := range items {
					t.add(m.ID, m.VM, m.SourceHost, m.DestinationHost, m.Kind, m.Phase, stepsDone(m.Steps),
						m.Mode, m.CreatedAt.Format(time.RFC3339), orDash(m.Error))
				}
				v = items
			case "alerts":
				items, err := c.ListAlerts(ctx)
				if err != nil {
					return err
				}
				sel, err := parseSelector(labels)
				if err != nil {
					return err
				}
				items = filterAlerts(items, sel, site)
				alertTable(t, items)
				v = items
			case "replication":
				items, err := c.ListReplicationGroups(ctx)
				if err != nil {
					return err
				}
				t.header = []string{"ID", "SOURCE", "TARGET", "MODE", "STATE", "LAG", "PAIRS"}
				t.wide = []string{"RPO-S", "LAST-SYNC", "ERROR"}
				for _, g := range items {
					last := "-"
					if g.LastSyncAt != nil {
						last = g.LastSyncAt.Format(time.RFC3339)
					}
					t.add(g.ID, g.SourceArray, g.TargetArray, g.Mode, g.State, bytesStr(g.LagBytes), strconv.Itoa(len(g.Pairs)),
						fmt.Sprintf("%.0f", g.RPOSeconds), last, orDash(g.Error))
				}
				v = items
			default:
				return usageErr("get %s: want one of %s", args[0], strings.Join(getKinds, ", "))
			}
			return printOut(a.out, a.output, v, t)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&a.output, "output", "o", "table", "table|wide|json|yaml")
	f.StringVar(&site, "site", "", "only this site's (vms, hosts, fabrics, arrays, pools, alerts)")
	f.StringVar(&host, "host", "", "only this host's (vms)")
	f.StringVar(&array, "array", "", "only this array's (volumes, pools)")
	f.StringVar(&pool, "pool", "", "only this pool's (volumes)")
	f.StringVar(&volume, "volume", "", "only this volume's (attachments, snapshots)")
	f.StringVar(&owner, "owner", "", "only this owner's, a CSI driver's name (claims)")
	f.StringSliceVarP(&labels, "selector", "l", nil, "label selector key=value[,key=value] (alerts)")
	return cmd
}

func filterBy[T any](items []T, want string, key func(T) string) []T {
	if want == "" {
		return items
	}
	out := items[:0:0]
	for _, it := range items {
		if key(it) == want {
			out = append(out, it)
		}
	}
	return out
}

func parseSelector(sel []string) (map[string]string, error) {
	m := map[string]string{}
	for _, s := range sel {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usageErr("-l %s: want key=value", s)
		}
		m[k] = v
	}
	return m, nil
}

func filterAlerts(items []client.Alert, sel map[string]string, site string) []client.Alert {
	if site != "" {
		sel["site"] = site
	}
	out := items[:0:0]
next:
	for _, al := range items {
		for k, v := range sel {
			if al.Labels[k] != v {
				continue next
			}
		}
		out = append(out, al)
	}
	return out
}

func alertTable(t *table, items []client.Alert) {
	t.header = []string{"ALERT", "SEVERITY", "STATUS", "OBJECT", "SINCE"}
	t.wide = []string{"SUMMARY"}
	for _, al := range items {
		t.add(al.Labels["alertname"], orDash(al.Labels["severity"]), al.Status, alertObject(al.Labels),
			al.StartsAt.Format(time.RFC3339), al.Annotations["summary"])
	}
}

// alertObject names what an alert is about from its labels.
func alertObject(l map[string]string) string {
	var parts []string
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "alertname" || k == "severity" {
			continue
		}
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

func stepsDone(steps []client.MigrationStep) string {
	done := 0
	for _, s := range steps {
		if s.State == "done" {
			done++
		}
	}
	return fmt.Sprintf("%d/%d", done, len(steps))
}
