package mobility

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/internal/loadgen"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
)

// overheadMigrations is how many same-fabric moves BenchmarkMigrationOverhead
// makes; scripts/count-syncs.sh divides by it.
const overheadMigrations = 1000

// BenchmarkMigrationOverhead is the executor's own cost: 1,000 same-fabric
// live moves (login-idle → move → activate → logout-old) of the 100 VMs of
// a one-site lab of 4 hosts, each VM to the next host in turn, from 1
// client and from 10, with the devices as fast as the lab allows: zone
// commits of 1 ns (a same-fabric move commits none), and a clock at 10^5
// virtual seconds a real one, so that the hypervisor's memory copy (4.6 to
// 35 s virtual) takes at most 0.35 ms. Its figures are wall time. The
// moves run between markers a tracer can see (a stat of
// /sanmob-syncs-marker/<phase>-begin and -end): scripts/count-syncs.sh
// counts the synced writes between them.
func BenchmarkMigrationOverhead(b *testing.B) {
	for _, clients := range []int{1, 10} {
		b.Run(fmt.Sprint("clients-", clients), func(b *testing.B) {
			var perSec, p50, p99 float64
			for range b.N {
				cfg := lab.Small()
				cfg.Sites, cfg.HostsPerSite, cfg.VMsPerSite = []string{"east"}, 4, 100
				cfg.CommitLatency, cfg.Speed = time.Nanosecond, 1e5
				h := newHarnessLab(b, cfg, nil)
				ctx := context.Background()
				vms := h.svc.VMs(inventory.VMFilter{})
				slices.SortFunc(vms, func(a, b inventory.VM) int { return cmp.Compare(a.ID, b.ID) })
				hosts := h.svc.Hosts(inventory.HostFilter{})
				slices.SortFunc(hosts, func(a, b inventory.Host) int { return cmp.Compare(a.ID, b.ID) })
				next := map[string]string{}
				for i, x := range hosts {
					next[x.ID] = hosts[(i+1)%len(hosts)].ID
				}
				phase := fmt.Sprintf("migrate%d", clients)
				_, _ = os.Stat("/sanmob-syncs-marker/" + phase + "-begin")
				r, err := loadgen.Run(clock.RealClock{}, overheadMigrations, clients, func(i int) error {
					vm, err := h.svc.VM(vms[i%len(vms)].ID)
					if err != nil {
						return err
					}
					m, err := h.svc.StartMigration(MigrationSpec{VM: vm.ID, DestinationHost: next[vm.Host]})
					if err != nil {
						return err
					}
					if m.Kind != KindSameFabric {
						return fmt.Errorf("%s to %s is a %s move", vm.ID, next[vm.Host], m.Kind)
					}
					end, err := h.svc.WaitMigration(ctx, m.ID)
					if err == nil && end.Phase != "succeeded" {
						err = fmt.Errorf("migration of %s ended %s: %s", vm.ID, end.Phase, end.Error)
					}
					return err
				})
				_, _ = os.Stat("/sanmob-syncs-marker/" + phase + "-end")
				if err != nil {
					b.Fatal(err)
				}
				perSec += r.PerSecond
				p50 += float64(r.P50) / 1e6
				p99 += float64(r.P99) / 1e6
			}
			n := float64(b.N)
			b.ReportMetric(perSec/n, "migrations/s")
			b.ReportMetric(1000*n/perSec, "wall-ms/migration")
			b.ReportMetric(p50/n, "p50-ms")
			b.ReportMetric(p99/n, "p99-ms")
		})
	}
}
