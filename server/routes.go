package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/replication"
	"github.com/sanmob/sanmob/thin"
)

// List is the envelope of every collection: {"items": [...]}; Continue is
// set when ?limit cut the list, and is passed back as ?continue=.
type List[T any] struct {
	Items      []T    `json:"items"`
	Continue   string `json:"continue,omitempty"`
	ObservedAt any    `json:"observedAt,omitempty"`
}

var pageParams = []queryParam{
	{"limit", "integer", "at most this many items (1-10000); the answer carries a continue token when more remain"},
	{"continue", "string", "the continue token of the previous page"},
}

func (s *Server) routeTable() []route {
	read := func(name, path, summary string, resp any, h http.HandlerFunc, q ...queryParam) route {
		return route{name: name, method: http.MethodGet, path: path, summary: summary, resp: resp, status: http.StatusOK, handler: h, query: q}
	}
	// list is a read of a collection: ?limit and ?continue besides its
	// filters, and a 400 for any other query parameter.
	list := func(name, path, summary string, resp any, h http.HandlerFunc, filters ...queryParam) route {
		rt := read(name, path, summary, resp, h, append(filters, pageParams...)...)
		rt.paged = true
		return rt
	}
	verify := queryParam{"verify", "boolean", "read the devices now instead of answering from the observed model"}
	return []route{
		{name: "healthz", method: http.MethodGet, path: "/healthz", public: true, summary: "liveness: the process serves HTTP", resp: map[string]string{}, status: http.StatusOK, handler: s.healthz},
		{name: "readyz", method: http.MethodGet, path: "/readyz", public: true, summary: "readiness: the store is open and every device has answered", resp: readyBody{}, status: http.StatusOK, handler: s.readyz},
		{name: "metrics", method: http.MethodGet, path: "/metrics", public: true, summary: "Prometheus metrics", status: http.StatusOK, handler: s.metricsHandler()},
		{name: "openapi", method: http.MethodGet, path: "/v1/openapi.json", public: true, summary: "this document", resp: map[string]any{}, status: http.StatusOK, handler: s.openapiHandler},

		// The hottest read first: gorilla/mux tries routes in order.
		read("getTopology", "/v1/vms/{id}/topology", "every path from the VM's vports to its LUNs", inventory.Topology{}, s.getTopology, verify),

		list("listSites", "/v1/sites", "sites", List[inventory.Site]{}, s.listSites),
		read("getSite", "/v1/sites/{id}", "one site", inventory.Site{}, s.getSite),
		list("listLinks", "/v1/links", "inter-site links", List[inventory.Link]{}, s.listLinks),

		list("listFabrics", "/v1/fabrics", "fabrics", List[inventory.Fabric]{}, s.listFabrics),
		read("getFabric", "/v1/fabrics/{id}", "one fabric", inventory.Fabric{}, s.getFabric),
		list("listLogins", "/v1/fabrics/{id}/logins", "the fabric's name server as last observed", List[fabric.Login]{}, s.listLogins),
		list("listZones", "/v1/fabrics/{id}/zones", "zones on the fabric with owner (sanmob|external) and users", List[inventory.ZoneView]{}, s.listZones),
		{name: "reconcileFabric", errors: []int{http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/fabrics/{id}/reconcile", summary: "compare sanmob's zones with the switch; ?apply=true repairs sanmob's own (missing, changed, orphaned) and never touches another's", query: []queryParam{{"apply", "boolean", "repair what differs"}}, resp: fabric.Drift{}, status: http.StatusOK, roles: []Role{RoleAdmin, RoleOperator}, handler: s.reconcileFabric},
		list("listAlerts", "/v1/alerts", "firing alerts, then recently resolved ones", List[alert.Alert]{}, s.listAlerts),
		read("alertEvents", "/v1/alerts/stream", "Server-Sent Events (text/event-stream) of the alerts: a snapshot event (data {items: the firing alerts}, id 0), then one fired or resolved event per change (data: this schema, id: its seq), a heartbeat comment every 15 s; ends after a resync event when the client reads too slowly (reconnect: a new snapshot)", alert.Event{}, s.alertEvents),

		list("listHosts", "/v1/hosts", "hosts", List[inventory.Host]{}, s.listHosts, queryParam{"site", "string", "only hosts at this site"}),
		{name: "createHost", method: http.MethodPost, path: "/v1/hosts", summary: "add a host", req: inventory.HostSpec{}, resp: inventory.Host{}, status: http.StatusCreated, roles: []Role{RoleAdmin}, handler: s.createHost},
		read("getHost", "/v1/hosts/{id}", "one host", inventory.Host{}, s.getHost),
		{name: "updateHost", method: http.MethodPatch, path: "/v1/hosts/{id}", summary: "change a host (merge patch)", req: inventory.HostPatch{}, resp: inventory.Host{}, status: http.StatusOK, roles: []Role{RoleAdmin}, handler: s.updateHost},
		{name: "deleteHost", method: http.MethodDelete, path: "/v1/hosts/{id}", summary: "remove a host that runs no VM", status: http.StatusNoContent, roles: []Role{RoleAdmin}, handler: s.deleteHost},

		{name: "getQueueDepths", method: http.MethodGet, path: "/v1/hosts/{id}/queue-depths", summary: "the queue depth sanmob recommends for each of the host's LUNs, with its preferred target ports, the period's latency and the pool's threshold behind it, the shares and VMs it carries, and what bound it; ?watch=true streams them as Server-Sent Events (a snapshot event, then a queue-depths event each time a control period changes them; heartbeat comments every 15 s; the stream ends when the client reads too slowly)", resp: mobility.HostQueueDepths{}, status: http.StatusOK, handler: s.getQueueDepths, query: []queryParam{{"watch", "boolean", "stream changes as Server-Sent Events"}}},
		{name: "postTelemetry", method: http.MethodPost, path: "/v1/telemetry/io", summary: "a batch (JSON array, at most 5,000) of host I/O samples per (host, volume, target port); taken whole or refused whole: 400 naming the first bad sample's field ([i].field), 429 with Retry-After when a host sends more than its rate", req: []mobility.TelemetrySample{}, resp: mobility.TelemetryResult{}, status: http.StatusOK, roles: []Role{RoleAdmin, RoleOperator, RoleCSI}, errors: []int{http.StatusTooManyRequests, http.StatusUnsupportedMediaType}, quiet: true, handler: s.postTelemetry},

		list("listVMs", "/v1/vms", "VMs", List[inventory.VM]{}, s.listVMs, queryParam{"host", "string", "only VMs on this host"}, queryParam{"site", "string", "only VMs at this site"}),
		{name: "createVM", method: http.MethodPost, path: "/v1/vms", summary: "add a VM; vports are generated (NPIV pair per fabric) when left out", req: inventory.VMSpec{}, resp: inventory.VM{}, status: http.StatusCreated, roles: []Role{RoleAdmin}, handler: s.createVM},
		read("getVM", "/v1/vms/{id}", "one VM", inventory.VM{}, s.getVM),
		{name: "updateVM", method: http.MethodPatch, path: "/v1/vms/{id}", summary: "change a VM (merge patch)", req: inventory.VMPatch{}, resp: inventory.VM{}, status: http.StatusOK, roles: []Role{RoleAdmin}, handler: s.updateVM},
		{name: "deleteVM", method: http.MethodDelete, path: "/v1/vms/{id}", summary: "forget a VM (devices are not touched)", status: http.StatusNoContent, roles: []Role{RoleAdmin}, handler: s.deleteVM},
		{name: "loginVport", errors: []int{http.StatusBadRequest, http.StatusConflict, http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/vms/{id}/vports/{wwpn}/login", summary: "log the vport in (FDISC) through its host's HBA on its fabric; refused, untried, when the WWPN is logged in anywhere", status: http.StatusNoContent, roles: []Role{RoleAdmin, RoleOperator}, handler: s.loginVport},
		{name: "logoutVport", errors: []int{http.StatusBadRequest, http.StatusConflict}, method: http.MethodPost, path: "/v1/vms/{id}/vports/{wwpn}/logout", summary: "log the vport out of its fabric", status: http.StatusNoContent, roles: []Role{RoleAdmin, RoleOperator}, handler: s.logoutVport},

		list("listArrays", "/v1/arrays", "arrays with their target ports", List[inventory.Array]{}, s.listArrays),
		read("getArray", "/v1/arrays/{id}", "one array", inventory.Array{}, s.getArray),
		list("listPools", "/v1/pools", "capacity pools", List[inventory.Pool]{}, s.listPools, queryParam{"array", "string", "only pools of this array"}),
		read("getPool", "/v1/pools/{id}", "one pool", inventory.Pool{}, s.getPool),
		list("getPoolHistory", "/v1/pools/{id}/history", "the pool's used and provisioned bytes over time: raw samples for two days, hourly means before (90 days)", List[thin.Point]{}, s.getPoolHistory, queryParam{"since", "string", "only points at or after this RFC 3339 time"}),
		list("listVolumes", "/v1/volumes", "volumes", List[inventory.Volume]{}, s.listVolumes, queryParam{"array", "string", "only volumes on this array"}, queryParam{"pool", "string", "only volumes in this pool"}),
		{name: "createVolume", errors: []int{http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/volumes", summary: "create a volume after thin admission; idempotent by name", req: mobility.VolumeSpec{}, resp: inventory.Volume{}, status: http.StatusCreated, roles: []Role{RoleAdmin, RoleCSI}, handler: s.createVolume},
		read("getVolume", "/v1/volumes/{id}", "one volume", inventory.Volume{}, s.getVolume),
		{name: "updateVolume", errors: []int{http.StatusInsufficientStorage}, method: http.MethodPatch, path: "/v1/volumes/{id}", summary: "grow a volume: {sizeBytes}", req: volumePatch{}, resp: inventory.Volume{}, status: http.StatusOK, roles: []Role{RoleAdmin, RoleCSI}, handler: s.updateVolume},
		{name: "deleteVolume", method: http.MethodDelete, path: "/v1/volumes/{id}", summary: "delete a volume that is attached nowhere", status: http.StatusNoContent, roles: []Role{RoleAdmin, RoleCSI}, handler: s.deleteVolume},
		{name: "createVolumeSnapshot", errors: []int{http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/volumes/{id}/snapshots", summary: "snapshot a volume; idempotent by name", req: mobility.SnapshotSpec{}, resp: inventory.SnapshotView{}, status: http.StatusCreated, roles: []Role{RoleAdmin, RoleOperator, RoleCSI}, handler: s.createVolumeSnapshot},
		{name: "createVMSnapshot", errors: []int{http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/vms/{id}/snapshots", summary: "a consistent snapshot of all of a VM's volumes", req: mobility.SnapshotSpec{}, resp: List[inventory.SnapshotView]{}, status: http.StatusCreated, roles: []Role{RoleAdmin, RoleOperator}, handler: s.createVMSnapshot},
		read("getSnapshot", "/v1/snapshots/{id}", "one snapshot", inventory.SnapshotView{}, s.getSnapshot),
		{name: "deleteSnapshot", method: http.MethodDelete, path: "/v1/snapshots/{id}", summary: "delete a snapshot", status: http.StatusNoContent, roles: []Role{RoleAdmin, RoleOperator, RoleCSI}, handler: s.deleteSnapshot},
		{name: "createMigration", also: map[int]any{http.StatusOK: mobility.MigrationPlan{}}, errors: []int{http.StatusUnprocessableEntity, http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/migrations", summary: "move a VM to another host (201, the migration, running); with dryRun: true its plan alone (200): kind, estimate, and 422 with every reason it may not run; same-fabric, cross-fabric and cross-site moves all run", req: mobility.MigrationSpec{}, resp: mobility.Migration{}, status: http.StatusCreated, roles: []Role{RoleAdmin, RoleOperator}, handler: s.createMigration},
		list("listMigrations", "/v1/migrations", "migrations, oldest first", List[mobility.Migration]{}, s.listMigrations),
		read("getMigration", "/v1/migrations/{id}", "one migration with its steps", mobility.Migration{}, s.getMigration),
		list("listReplicationGroups", "/v1/replication/groups", "replication consistency groups (one per moved VM) as last read from the arrays: mode, state, writable side, lag, achieved RPO", List[replication.Group]{}, s.listReplicationGroups),
		list("listReplicationPairs", "/v1/replication/pairs", "replicated volumes: source and target array and volume, mode, state, lag, RPO, last sync", List[replication.Pair]{}, s.listReplicationPairs),
		{name: "createEvacuation", errors: []int{http.StatusUnprocessableEntity}, method: http.MethodPost, path: "/v1/evacuations", summary: "move every VM off a host to the destination hosts (201, the evacuation, running): each VM placed on a destination that can take it, at most maxParallel (1-64, default 4) moves at once, largest copy first; a VM no destination can take is skipped with its reasons; 409 while the host has an evacuation running", req: mobility.EvacuationSpec{}, resp: mobility.Evacuation{}, status: http.StatusCreated, roles: []Role{RoleAdmin, RoleOperator}, handler: s.createEvacuation},
		list("listEvacuations", "/v1/evacuations", "evacuations, oldest first", List[mobility.Evacuation]{}, s.listEvacuations),
		read("getEvacuation", "/v1/evacuations/{id}", "one evacuation with its moves, phase and progress", mobility.Evacuation{}, s.getEvacuation),
		{name: "abortMigration", errors: []int{http.StatusConflict}, method: http.MethodPost, path: "/v1/migrations/{id}/abort", summary: "stop a running migration and roll it back: the step in progress is cancelled and the done ones undone in reverse (200, the migration, rolling-back); 409 when it is not running", resp: mobility.Migration{}, status: http.StatusOK, roles: []Role{RoleAdmin, RoleOperator}, handler: s.abortMigration},
		{name: "retryMigration", errors: []int{http.StatusConflict}, method: http.MethodPost, path: "/v1/migrations/{id}/retry", summary: "retry the rollback of a failed migration once what blocked it is fixed (200, the migration, rolling-back); 409 when it has not failed. A new POST /v1/migrations for its VM retries it too", resp: mobility.Migration{}, status: http.StatusOK, roles: []Role{RoleAdmin, RoleOperator}, handler: s.retryMigration},
		{name: "reportMigrationCompute", method: http.MethodPost, path: "/v1/migrations/{id}/compute", summary: "the hypervisor manager reports the move a migration waits for (compute driver external; phase waiting-compute): {state: switched|failed, detail}; 200, the migration; 409 when nothing of it waits for a report or the driver is not external", req: mobility.ComputeReport{}, resp: mobility.Migration{}, status: http.StatusOK, roles: []Role{RoleAdmin, RoleOperator}, handler: s.reportMigrationCompute},
		read("migrationEvents", "/v1/migrations/{id}/events", "Server-Sent Events (text/event-stream) of a migration: a snapshot event (the migration), then one step or phase event per transition (data: this schema, id: its seq), a heartbeat comment every 15 s; ends after the terminal phase, or after a resync event when the client reads too slowly", mobility.MigrationEvent{}, s.migrationEvents),
		{name: "createAttachment", errors: []int{http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/attachments", summary: "mask a volume to a node (host or VM) and zone every fabric its initiators sit on; returns the publish context", req: mobility.AttachmentSpec{}, resp: mobility.Attachment{}, status: http.StatusCreated, roles: []Role{RoleAdmin, RoleCSI}, handler: s.createAttachment},
		list("listAttachments", "/v1/attachments", "attachments", List[mobility.Attachment]{}, s.listAttachments, queryParam{"volume", "string", "only this volume's"}),
		{name: "deleteAttachment", method: http.MethodDelete, path: "/v1/attachments/{volume}/{node}", summary: "unmask and unzone what only this attachment needed", status: http.StatusNoContent, roles: []Role{RoleAdmin, RoleCSI}, handler: s.deleteAttachment},
		{name: "putClaim", also: map[int]any{http.StatusOK: mobility.Claim{}}, errors: []int{http.StatusUnprocessableEntity, http.StatusInsufficientStorage}, method: http.MethodPut, path: "/v1/zoning/claims/{owner}/{key:.+}", summary: "claim reachability for another CSI driver or orchestrator: zone every initiator to every target it shares a fabric with, answered once every fabric has committed (201 new, 200 unchanged or replaced); idempotent by owner and key (volume/node); 422 names ports logged in nowhere, 409 ports that share no fabric", req: mobility.ClaimSpec{}, resp: mobility.Claim{}, status: http.StatusCreated, roles: []Role{RoleAdmin, RoleOperator, RoleCSI}, handler: s.putClaim},
		{name: "deleteClaim", method: http.MethodDelete, path: "/v1/zoning/claims/{owner}/{key:.+}", summary: "release a zoning claim: its zones go unless another claim or an attachment needs them; 204 also when there is no such claim", status: http.StatusNoContent, roles: []Role{RoleAdmin, RoleOperator, RoleCSI}, handler: s.deleteClaim},
		list("listClaims", "/v1/zoning/claims", "zoning claims by owner and key, with their fabrics, zones and unreached ports", List[mobility.Claim]{}, s.listClaims, queryParam{"owner", "string", "only this owner's (a CSI driver name)"}),
		read("getClaim", "/v1/zoning/claims/{owner}/{key:.+}", "one zoning claim", mobility.Claim{}, s.getClaim),
		list("darkStorage", "/v1/reports/dark-storage", "dark storage: volumes allocated but presented to nothing, or only to hosts and VMs the inventory no longer has, with provisioned and used bytes and since when sanmob has seen them dark; totals cover every dark volume, not only the page", DarkStorage{}, s.darkStorage),
		list("listSnapshots", "/v1/snapshots", "snapshots", List[inventory.SnapshotView]{}, s.listSnapshots, queryParam{"volume", "string", "only snapshots of this volume"}),

		{name: "labZoneDB", method: http.MethodGet, path: "/v1/lab/fabrics/{id}/zonedb", lab: true, roles: []Role{RoleAdmin}, summary: "the lab switch's own zone DB", resp: LabZoneDB{}, status: http.StatusOK, handler: s.labZoneDB},
		{name: "labLogins", method: http.MethodGet, paged: true, query: pageParams, path: "/v1/lab/fabrics/{id}/logins", lab: true, roles: []Role{RoleAdmin}, summary: "the lab switch's own name server", resp: List[fabric.Login]{}, status: http.StatusOK, handler: s.labLogins},
		{name: "labPlugPort", errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusInsufficientStorage}, method: http.MethodPost, path: "/v1/lab/fabrics/{id}/logins", lab: true, roles: []Role{RoleAdmin}, summary: "cable a port into the lab switch, as an administrator connecting a device sanmob does not manage (another vendor's array) would: a physical login (FLOGI) on a free switch port, target or initiator (201, its name-server entry); 409 when the WWPN is logged in anywhere in the lab or names a lab VM's vport, 507 when the switch has no free port. Kept across restarts", req: LabPort{}, resp: fabric.Login{}, status: http.StatusCreated, handler: s.labPlugPort},
		{name: "labUnplugPort", errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict}, method: http.MethodDelete, path: "/v1/lab/fabrics/{id}/logins/{wwpn}", lab: true, roles: []Role{RoleAdmin}, summary: "pull a port that labPlugPort cabled, with any vport logged in through it; 404 when it is not logged in to the fabric, 409 for a port the lab's build cabled or a vport: only plugged ports can be pulled", status: http.StatusNoContent, handler: s.labUnplugPort},
		{name: "labDeleteZone", method: http.MethodDelete, path: "/v1/lab/fabrics/{id}/zones/{name}", lab: true, roles: []Role{RoleAdmin}, summary: "remove a zone on the lab switch behind sanmob's back", status: http.StatusNoContent, handler: s.labDeleteZone},
		{name: "labMappings", method: http.MethodGet, paged: true, query: pageParams, path: "/v1/lab/arrays/{id}/mappings", lab: true, roles: []Role{RoleAdmin}, summary: "the lab array's own LUN maps", resp: List[array.Mapping]{}, status: http.StatusOK, handler: s.labMappings},
		{name: "labClock", method: http.MethodGet, path: "/v1/lab/clock", lab: true, roles: []Role{RoleAdmin}, summary: "the lab's virtual clock", resp: LabClock{}, status: http.StatusOK, handler: s.labClock},
		{name: "labListFaults", method: http.MethodGet, paged: true, query: pageParams, path: "/v1/lab/faults", lab: true, roles: []Role{RoleAdmin}, summary: "active injected faults", resp: List[LabFault]{}, status: http.StatusOK, handler: s.labListFaults},
		{name: "labInjectFault", method: http.MethodPost, path: "/v1/lab/faults", lab: true, roles: []Role{RoleAdmin}, summary: "make the next operations of a device fail or slow down", req: LabFault{}, resp: LabFault{}, status: http.StatusCreated, handler: s.labInjectFault},
		{name: "labClearFaults", method: http.MethodDelete, path: "/v1/lab/faults", lab: true, roles: []Role{RoleAdmin}, summary: "clear every injected fault", status: http.StatusNoContent, handler: s.labClearFaults},
	}
}

func vars(r *http.Request) map[string]string { return mux.Vars(r) }

// page cuts a list by ?limit and ?continue. key names an item uniquely
// (an id); the continue token carries the list's route, how many items came
// before the next page and the key of the last one served, under a checksum,
// so that a token the server did not issue — garbage, edited, or another
// list's — is a 400 naming continue rather than a silently empty page.
func page[T any](w http.ResponseWriter, r *http.Request, items []T, key func(T) string) (List[T], bool) {
	q := r.URL.Query()
	listName := ""
	if rt := mux.CurrentRoute(r); rt != nil {
		listName = rt.GetName()
	}
	out := List[T]{Items: items}
	n := 0 // items before this page
	if c := q.Get("continue"); c != "" {
		cur, why := decodeContinue(c, listName)
		if why != "" {
			writeProblem(w, r, withParam(newProblem(http.StatusBadRequest, "continue token is not one this server issued for this list: "+why), "continue", why))
			return out, false
		}
		n = resume(items, key, cur)
		out.Items = items[n:]
	}
	if l := q.Get("limit"); l != "" {
		lim, err := strconv.Atoi(l)
		if err != nil || lim < 1 || lim > 10000 {
			writeProblem(w, r, withParam(newProblem(http.StatusBadRequest, "limit must be an integer 1-10000"), "limit", "must be 1-10000"))
			return out, false
		}
		if len(out.Items) > lim {
			out.Items = out.Items[:lim]
			out.Continue = encodeContinue(cursor{list: listName, n: n + lim, key: key(out.Items[lim-1])})
		}
	}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out, true
}

// cursor is what a continue token says: where in which list the next page
// starts.
type cursor struct {
	list string // the route's name
	n    int    // the items served before the next page
	key  string // the key of the last one
}

// continueKey keys the checksum of continue tokens. It is not a secret: a
// token only says where a page starts, which a client may ask for anyway;
// the MAC tells a token this server made from anything else. Static, so
// that tokens outlive a restart and work on every replica.
var continueKey = []byte("sanmob continue token v1")

const (
	continueVersion = "c1."
	continueMACLen  = 12
)

func continueMAC(payload []byte) []byte {
	m := hmac.New(sha256.New, continueKey)
	m.Write(payload)
	return m.Sum(nil)[:continueMACLen]
}

func encodeContinue(c cursor) string {
	payload := []byte(c.list + "\x00" + strconv.Itoa(c.n) + "\x00" + c.key)
	return continueVersion + base64.RawURLEncoding.EncodeToString(append(continueMAC(payload), payload...))
}

// decodeContinue reads a token for the list; why says what is wrong with
// one that is not good.
func decodeContinue(tok, list string) (cursor, string) {
	body, ok := strings.CutPrefix(tok, continueVersion)
	if !ok {
		return cursor{}, "malformed"
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < continueMACLen {
		return cursor{}, "malformed"
	}
	mac, payload := raw[:continueMACLen], raw[continueMACLen:]
	if !hmac.Equal(mac, continueMAC(payload)) {
		return cursor{}, "altered or malformed"
	}
	parts := strings.SplitN(string(payload), "\x00", 3)
	if len(parts) != 3 {
		return cursor{}, "malformed"
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 {
		return cursor{}, "malformed"
	}
	if parts[0] != list {
		return cursor{}, "issued for another list"
	}
	return cursor{list: parts[0], n: n, key: parts[2]}, ""
}

// resume is where the page after cur starts in items: after the item cur
// ended on — at its place when nothing before it changed, else wherever it
// is now; when it is gone, after the keys not above it if items are sorted
// by key, else at the same count.
func resume[T any](items []T, key func(T) string, cur cursor) int {
	if cur.n > 0 && cur.n <= len(items) && key(items[cur.n-1]) == cur.key {
		return cur.n
	}
	if slices.IsSortedFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) }) {
		i, _ := slices.BinarySearchFunc(items, cur.key, func(it T, k string) int { return strings.Compare(key(it), k) })
		for i < len(items) && key(items[i]) <= cur.key {
			i++
		}
		return i
	}
	if i := slices.IndexFunc(items, func(it T) bool { return key(it) == cur.key }); i >= 0 {
		return i + 1
	}
	return min(cur.n, len(items))
}

func withParam(p Problem, name, reason string) Problem {
	p.InvalidParams = append(p.InvalidParams, InvalidParam{Name: name, Reason: reason})
	return p
}
