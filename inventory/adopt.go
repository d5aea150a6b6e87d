package inventory

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/store"
)

// Adopted zoning. On the first start sanmob finds the inventory already
// zoned: each VM's vports sit in sanmob-named zones with array target ports.
// Those zones become the VMs' zone intents — the Zoner's desired state — so
// that a zone deleted or changed later, even while sanmob is down, shows as
// drift and can be repaired. They are kept compactly (a large inventory has
// hundreds of thousands), in chunks under one transaction's size, and their
// users and labels are rebuilt from the inventory on load: a VM deleted from
// the inventory takes its adopted intents with it (its zones then show as
// orphans).
const (
	kindZoning     = "zoning"
	adoptPairBytes = 18 // initiator, target, array index (uint16, big endian)
	adoptChunk     = 100_000
)

type adoptedChunk struct {
	Fabric string   `json:"fabric"`
	Arrays []string `json:"arrays"`
	Pairs  []byte   `json:"pairs"`
}

// adoptable finds, on each fabric as observed, the initiator-target pairs of
// the sanmob zones that hold a port of the inventory.
func (s *Inventory) adoptable(owners map[wwn.WWN]owner) []adoptedChunk {
	tgtArray := map[wwn.WWN]string{}
	for _, aid := range s.arrIDs {
		if o := s.arrays[aid].Obs.Load(); o != nil {
			for _, p := range o.Ports {
				tgtArray[p.WWPN] = aid
			}
		}
	}
	var out []adoptedChunk
	for _, fid := range s.fabIDs {
		o := s.fabrics[fid].Obs.Load()
		if o == nil {
			continue
		}
		arrIdx := map[string]int{}
		var c adoptedChunk
		add := func(ini, tgt wwn.WWN) {
			if _, ok := owners[ini]; !ok {
				return
			}
			a, ok := tgtArray[tgt]
			if !ok {
				return // not an array port sanmob knows
			}
			ai, ok := arrIdx[a]
			if !ok {
				ai = len(c.Arrays)
				arrIdx[a] = ai
				c.Arrays = append(c.Arrays, a)
			}
			c.Pairs = append(c.Pairs, ini[:]...)
			c.Pairs = append(c.Pairs, tgt[:]...)
			c.Pairs = binary.BigEndian.AppendUint16(c.Pairs, uint16(ai))
			if len(c.Pairs) == adoptChunk*adoptPairBytes {
				out = append(out, c)
				c = adoptedChunk{Fabric: fid, Arrays: c.Arrays}
			}
		}
		c.Fabric = fid
		for _, z := range o.DB.Zones {
			switch {
			case !fabric.Owned(z.Name):
			case len(z.Principals) == 1:
				for _, m := range z.Members {
					add(m, z.Principals[0])
				}
			case len(z.Members) == 2 && len(z.Principals) == 0:
				add(z.Members[0], z.Members[1])
				add(z.Members[1], z.Members[0])
			}
		}
		if len(c.Pairs) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// adoptedIDs names the chunks' records: fabric/n.
func adoptedIDs(chunks []adoptedChunk) iter.Seq2[string, adoptedChunk] {
	return func(yield func(string, adoptedChunk) bool) {
		n := map[string]int{}
		for _, c := range chunks {
			id := c.Fabric + "/" + strconv.Itoa(n[c.Fabric])
			n[c.Fabric]++
			if !yield(id, c) {
				return
			}
		}
	}
}

// saveAdopted writes the chunks in b; records of an earlier set under other
// ids are the caller's to delete.
func saveAdopted(b *store.Batch, chunks []adoptedChunk) error {
	for id, c := range adoptedIDs(chunks) {
		if err := b.Put(kindZoning, id, c); err != nil {
			return fmt.Errorf("mobility: save adopted zoning %s: %w", id, err)
		}
	}
	return nil
}

// adoptLoaded hands the adopted pairs to the Zoner, each under the user
// that owns its initiator in the inventory (a VM or a host), fabrics side by
// side; pairs of ports the inventory no longer has are dropped. s.mu is held
// for reading, or s is not yet shared.
func (s *Inventory) adoptLoaded(chunks []adoptedChunk) {
	byFabric := map[string][]adoptedChunk{}
	for _, c := range chunks {
		byFabric[c.Fabric] = append(byFabric[c.Fabric], c)
	}
	var pairs, dropped atomic.Int64
	var wg sync.WaitGroup
	for fid, cs := range byFabric {
		if _, ok := s.fabrics[fid]; !ok {
			for _, c := range cs {
				dropped.Add(int64(len(c.Pairs) / adoptPairBytes))
			}
			continue
		}
		n := 0
		for _, c := range cs {
			n += len(c.Pairs) / adoptPairBytes
		}
		wg.Go(func() {
			err := s.zoner.AdoptAll(fid, n, func(yield func(string, fabric.Intent) bool) {
				var lastIni wwn.WWN
				var lastUser, lastLabel string
				for _, c := range cs {
					for p := c.Pairs; len(p) >= adoptPairBytes; p = p[adoptPairBytes:] {
						var ini, tgt wwn.WWN
						copy(ini[:], p[:8])
						copy(tgt[:], p[8:16])
						ai := int(binary.BigEndian.Uint16(p[16:18]))
						if ini != lastIni || lastUser == "" {
							o, ok := s.wwpnOwner[ini]
							if ok && o.kind == "vm" && s.vmZoned[o.id] {
								continue // its placed record speaks for it
							}
							if !ok || ai >= len(c.Arrays) {
								dropped.Add(1)
								continue
							}
							lastIni, lastUser, lastLabel = ini, o.String(), o.id
						}
						if ai >= len(c.Arrays) {
							dropped.Add(1)
							continue
						}
						pairs.Add(1)
						if !yield(lastUser, fabric.Intent{Fabric: fid, Initiator: ini, Target: tgt, InitiatorLabel: lastLabel, TargetLabel: c.Arrays[ai]}) {
							return
						}
					}
				}
			})
			if err != nil {
				s.log.WithError(err).WithField("fabric", fid).Warn("adopted zoning refused")
			}
		})
	}
	wg.Wait()
	if n := pairs.Load() + dropped.Load(); n > 0 {
		s.log.WithFields(logrus.Fields{"pairs": pairs.Load(), "dropped": dropped.Load()}).Info("zoning of the inventory adopted")
	}
}

func (s *Inventory) loadAdopted() ([]adoptedChunk, error) {
	var chunks []adoptedChunk
	err := s.st.List(kindZoning, func(id string, raw []byte) error {
		var c adoptedChunk
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("zoning record %s: %w", id, err)
		}
		chunks = append(chunks, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mobility: load adopted zoning: %w", err)
	}
	return chunks, nil
}
