package client

import (
	"encoding/json"
	"time"
)

// The types below copy the JSON shapes of the REST API (docs: API.md and
// GET /v1/openapi.json), not sanmob's Go types: the daemon may add fields,
// which these ignore. Rarely used parts are kept as json.RawMessage.

// Site is a data-center site.
type Site struct {
	ID string `json:"id"`
}

// Link is an inter-site link.
type Link struct {
	From          string  `json:"from"`
	To            string  `json:"to"`
	RTTMs         float64 `json:"rttMs"`
	BandwidthMbps float64 `json:"bandwidthMbps"`
	DistanceKm    float64 `json:"distanceKm"`
}

// DeviceStatus is what sanmob last saw of a device.
type DeviceStatus struct {
	ObservedAt    *time.Time `json:"observedAt,omitempty"`
	LastAttemptAt *time.Time `json:"lastAttemptAt,omitempty"`
	Reachable     bool       `json:"reachable"`
	Error         string     `json:"error,omitempty"`
}

// Fabric is one FC fabric (a switch's zoning domain).
type Fabric struct {
	ID             string        `json:"id"`
	Site           string        `json:"site"`
	Driver         string        `json:"driver"`
	ZoneCount      int           `json:"zoneCount"`
	ZoneDBBytes    int64         `json:"zoneDbBytes"`
	ZoneDBMaxBytes int64         `json:"zoneDbMaxBytes"`
	EffectiveCfg   string        `json:"effectiveCfg,omitempty"`
	LoginCount     int           `json:"loginCount"`
	LastCommitAt   *time.Time    `json:"lastCommitAt,omitempty"`
	ZonePolicy     string        `json:"zonePolicy,omitempty"`
	ZoneCommits    int           `json:"zoneCommits"`
	Status         *DeviceStatus `json:"status,omitempty"`
}

// HBA is one of a host's physical FC ports.
type HBA struct {
	Name        string `json:"name,omitempty"`
	WWPN        string `json:"wwpn"`
	WWNN        string `json:"wwnn"`
	Fabric      string `json:"fabric"`
	MaxVports   int    `json:"maxVports"`
	VportsInUse int    `json:"vportsInUse"`
	LoggedIn    bool   `json:"loggedIn"`
}

// Host is a hypervisor host.
type Host struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Site      string    `json:"site"`
	HBAs      []HBA     `json:"hbas"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Vport is one of a VM's NPIV virtual ports.
type Vport struct {
	Fabric     string     `json:"fabric"`
	WWPN       string     `json:"wwpn"`
	WWNN       string     `json:"wwnn"`
	Set        string     `json:"set"` // a | b
	Active     bool       `json:"active"`
	HBA        string     `json:"hba,omitempty"`
	LoggedIn   bool       `json:"loggedIn"`
	LoggedInAt *time.Time `json:"loggedInAt,omitempty"`
}

// VMVolume is a volume a VM uses, under its LUN id.
type VMVolume struct {
	ID  string `json:"id"`
	LUN int    `json:"lun"`
}

// VM is a virtual machine with its vports and volumes.
type VM struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Host      string     `json:"host"`
	Site      string     `json:"site"`
	Vports    []Vport    `json:"vports"`
	Volumes   []VMVolume `json:"volumes"`
	Shares    int        `json:"shares"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

// Volume is a LUN-backing volume on an array.
type Volume struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Array     string    `json:"array"`
	Pool      string    `json:"pool"`
	SizeBytes int64     `json:"sizeBytes"`
	UsedBytes int64     `json:"usedBytes"`
	WWN       string    `json:"wwn"`
	Thin      bool      `json:"thin"`
	CreatedAt time.Time `json:"createdAt"`
}

// Pool is a thin pool of an array.
type Pool struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	Array                  string          `json:"array"`
	Site                   string          `json:"site"`
	Media                  string          `json:"media,omitempty"`
	PhysicalBytes          int64           `json:"physicalBytes"`
	UsedBytes              int64           `json:"usedBytes"`
	ProvisionedBytes       int64           `json:"provisionedBytes"`
	FreeBytes              int64           `json:"freeBytes"`
	Overcommit             float64         `json:"overcommit"`
	MaxOvercommit          float64         `json:"maxOvercommit"`
	OvercommitPercentOfMax float64         `json:"overcommitPercentOfMax"`
	UsedPercent            float64         `json:"usedPercent"`
	DaysToFull             *float64        `json:"daysToFull"`
	Forecast               json.RawMessage `json:"forecast,omitempty"`
}

// Snapshot is a point-in-time copy of a volume.
type Snapshot struct {
	ID        string    `json:"id"`
	Volume    string    `json:"volume"`
	Name      string    `json:"name"`
	Group     string    `json:"group,omitempty"`
	Array     string    `json:"array"`
	UsedBytes int64     `json:"usedBytes"`
	CreatedAt time.Time `json:"createdAt"`
}

// Attachment is a volume presented (masked and zoned) to a host or a VM.
type Attachment struct {
	Volume         string            `json:"volume"`
	Node           string            `json:"node"`
	NodeKind       string            `json:"nodeKind,omitempty"`
	Array          string            `json:"array,omitempty"`
	HostGroup      string            `json:"hostGroup,omitempty"`
	LUN            int               `json:"lun"`
	Fabrics        []string          `json:"fabrics,omitempty"`
	State          string            `json:"state,omitempty"`
	Operation      string            `json:"operation,omitempty"`
	LastError      string            `json:"lastError,omitempty"`
	Action         string            `json:"action,omitempty"`
	PublishContext map[string]string `json:"publishContext,omitempty"`
	CreatedAt      *time.Time        `json:"createdAt,omitempty"`
}

// TopologyPath is one vport → zone → target port → LUN path.
type TopologyPath struct {
	Fabric         string `json:"fabric"`
	Set            string `json:"set,omitempty"`
	Active         bool   `json:"active"`
	LoggedIn       bool   `json:"loggedIn"`
	VportWWPN      string `json:"vportWWPN"`
	HBAWWPN        string `json:"hbaWWPN"`
	Zone           string `json:"zone"`
	TargetPortWWPN string `json:"targetPortWWPN"`
	Array          string `json:"array"`
	Volume         string `json:"volume"`
	LUN            int    `json:"lun"`
}

// Replica is the remote copy of a volume.
type Replica struct {
	Array    string `json:"array"`
	Volume   string `json:"volume"`
	State    string `json:"state"`
	LagBytes int64  `json:"lagBytes"`
}

// TopologyVolume is a volume of a VM's topology.
type TopologyVolume struct {
	ID        string     `json:"id"`
	Array     string     `json:"array"`
	Pool      string     `json:"pool"`
	LUN       int        `json:"lun"`
	WWN       string     `json:"wwn"`
	SizeBytes int64      `json:"sizeBytes"`
	UsedBytes int64      `json:"usedBytes"`
	Snapshots []Snapshot `json:"snapshots"`
	Replica   *Replica   `json:"replica,omitempty"`
}

// Topology is every path of a VM, from the model or (verified) the devices.
type Topology struct {
	VM         string           `json:"vm"`
	Host       string           `json:"host"`
	Site       string           `json:"site"`
	Paths      []TopologyPath   `json:"paths"`
	Volumes    []TopologyVolume `json:"volumes"`
	Issues     []string         `json:"issues"`
	Source     string           `json:"source,omitempty"` // model | devices
	ObservedAt *time.Time       `json:"observedAt,omitempty"`
}

// MigrationSpec asks for a migration (or, with DryRun, its plan).
type MigrationSpec struct {
	VM               string `json:"vm"`
	DestinationHost  string `json:"destinationHost"`
	Mode             string `json:"mode,omitempty"` // live | cold
	DestinationArray string `json:"destinationArray,omitempty"`
	Replication      string `json:"replication,omitempty"`
	DryRun           bool   `json:"dryRun,omitempty"`
}

// Estimate is a migration's expected cost.
type Estimate struct {
	Seconds         float64  `json:"seconds"`
	BytesToCopy     int64    `json:"bytesToCopy"`
	DowntimeSeconds float64  `json:"downtimeSeconds"`
	Tromboning      bool     `json:"tromboning"`
	Notes           []string `json:"notes"`
}

// Plan is the answer to a dry-run migration.
type Plan struct {
	VM              string            `json:"vm"`
	SourceHost      string            `json:"sourceHost"`
	DestinationHost string            `json:"destinationHost"`
	Mode            string            `json:"mode"`
	Kind            string            `json:"kind"`
	Feasible        bool              `json:"feasible"`
	Conflict        bool              `json:"conflict,omitempty"`
	Reasons         []string          `json:"reasons,omitempty"`
	Estimate        Estimate          `json:"estimate"`
	FabricMap       map[string]string `json:"fabricMap,omitempty"`
	DestArray       string            `json:"destArray,omitempty"`
	DestPools       map[string]string `json:"destPools,omitempty"`
	Replication     string            `json:"replication,omitempty"`
}

// MigrationStep is one step of a migration.
type MigrationStep struct {
	Name      string     `json:"name"`
	State     string     `json:"state"` // pending|running|done|failed|undone
	StartedAt *time.Time `json:"startedAt,omitempty"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Migration phases.
const (
	PhasePlanned        = "planned"
	PhaseRunning        = "running"
	PhaseWaitingCompute = "waiting-compute"
	PhaseSucceeded      = "succeeded"
	PhaseRollingBack    = "rolling-back"
	PhaseRolledBack     = "rolled-back"
	PhaseFailed         = "failed"
)

// Migration is a VM move with its storage.
type Migration struct {
	ID              string          `json:"id"`
	VM              string          `json:"vm"`
	SourceHost      string          `json:"sourceHost"`
	DestinationHost string          `json:"destinationHost"`
	Mode            string          `json:"mode"`
	Kind            string          `json:"kind"`
	Phase           string          `json:"phase"`
	Steps           []MigrationStep `json:"steps"`
	Estimate        Estimate        `json:"estimate"`
	Error           string          `json:"error,omitempty"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
}

// Ended reports whether the migration's phase is terminal.
func (m *Migration) Ended() bool { return PhaseEnded(m.Phase) }

// PhaseEnded reports whether phase is terminal (succeeded, rolled-back,
// failed).
func PhaseEnded(phase string) bool {
	return phase == PhaseSucceeded || phase == PhaseRolledBack || phase == PhaseFailed
}

// MigrationEvent is one event of a migration's stream. The first event of
// a stream has Type "snapshot" and carries the migration as it was
// (Snapshot); "step" and "phase" events carry a transition; "resync" means
// the reader fell behind and the stream ended.
type MigrationEvent struct {
	Seq       uint64     `json:"seq"`
	Type      string     `json:"type"` // snapshot | step | phase | resync
	Migration string     `json:"migration"`
	Step      string     `json:"step,omitempty"`
	State     string     `json:"state"`
	At        time.Time  `json:"at"`
	Error     string     `json:"error,omitempty"`
	Snapshot  *Migration `json:"-"`
}

// EvacuationSpec asks for all of a host's VMs to move.
type EvacuationSpec struct {
	ID               string   `json:"id,omitempty"`
	Host             string   `json:"host"`
	DestinationHosts []string `json:"destinationHosts"`
	Mode             string   `json:"mode,omitempty"`
	MaxParallel      int      `json:"maxParallel,omitempty"`
}

// EvacuationMove is one VM of an evacuation.
type EvacuationMove struct {
	VM              string     `json:"vm"`
	DestinationHost string     `json:"destinationHost"`
	Migration       string     `json:"migration,omitempty"`
	State           string     `json:"state"`
	BytesToCopy     int64      `json:"bytesToCopy"`
	Reasons         []string   `json:"reasons,omitempty"`
	Error           string     `json:"error,omitempty"`
	StartedAt       *time.Time `json:"startedAt,omitempty"`
	EndedAt         *time.Time `json:"endedAt,omitempty"`
}

// Evacuation is a batch of migrations off one host.
type Evacuation struct {
	ID               string           `json:"id"`
	Host             string           `json:"host"`
	DestinationHosts []string         `json:"destinationHosts"`
	Mode             string           `json:"mode"`
	MaxParallel      int              `json:"maxParallel"`
	Phase            string           `json:"phase"`
	Migrations       []EvacuationMove `json:"migrations"`
	Progress         struct {
		Done        int   `json:"done"`
		Total       int   `json:"total"`
		BytesCopied int64 `json:"bytesCopied"`
		BytesTotal  int64 `json:"bytesTotal"`
	} `json:"progress"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Alert is an active or recently resolved alert.
type Alert struct {
	Status      string            `json:"status"` // firing | resolved
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      *time.Time        `json:"endsAt,omitempty"`
	Fingerprint string            `json:"fingerprint"`
}

// AlertEvent is one event of the alert stream: "snapshot" (Items: the
// firing alerts), "fired" or "resolved" (Alert), "resync" (the reader fell
// behind; the stream ended).
type AlertEvent struct {
	Seq   uint64  `json:"seq"`
	Type  string  `json:"type"`
	Alert Alert   `json:"alert"`
	Items []Alert `json:"items,omitempty"`
}

// QueueDepth is the recommendation for one LUN of a host.
type QueueDepth struct {
	Volume               string   `json:"volume"`
	WWN                  string   `json:"wwn"`
	LUN                  int      `json:"lun"`
	Pool                 string   `json:"pool"`
	Array                string   `json:"array"`
	QueueDepth           int      `json:"queueDepth"`
	PreferredTargetPorts []string `json:"preferredTargetPorts"`
	LatencyMs            float64  `json:"latencyMs"`
	ThresholdMs          float64  `json:"thresholdMs"`
	IOPS                 float64  `json:"iops"`
	QFull                int64    `json:"qfull"`
	Busy                 int64    `json:"busy"`
	Shares               int      `json:"shares"`
	VMs                  []string `json:"vms"`
	Congested            bool     `json:"congested"`
	Reason               string   `json:"reason"`
}

// HostQueueDepths is a host's recommended queue depth per LUN.
type HostQueueDepths struct {
	Host          string       `json:"host"`
	At            time.Time    `json:"at"`
	PeriodSeconds float64      `json:"periodSeconds"`
	Items         []QueueDepth `json:"items"`
}

// ReconcileResult is the drift a reconcile found (and repaired, with apply).
type ReconcileResult struct {
	Fabric   string            `json:"fabric"`
	Checksum string            `json:"checksum,omitempty"`
	Missing  []json.RawMessage `json:"missing"`
	Changed  []json.RawMessage `json:"changed"`
	Orphans  []json.RawMessage `json:"orphans"`
	External []json.RawMessage `json:"external"`
	Repaired bool              `json:"repaired"`
}

// ReplicationPair is one replicated volume.
type ReplicationPair struct {
	ID          string          `json:"id"`
	Group       string          `json:"group,omitempty"`
	Source      json.RawMessage `json:"source,omitempty"`
	Target      json.RawMessage `json:"target,omitempty"`
	Mode        string          `json:"mode"`
	State       string          `json:"state"`
	LagBytes    int64           `json:"lagBytes"`
	RPOSeconds  float64         `json:"rpoSeconds"`
	CopiedBytes int64           `json:"copiedBytes"`
	TotalBytes  int64           `json:"totalBytes"`
	LastSyncAt  *time.Time      `json:"lastSyncAt,omitempty"`
}

// ReplicationGroup is a consistency group of replicated volumes.
type ReplicationGroup struct {
	ID          string            `json:"id"`
	SourceArray string            `json:"sourceArray"`
	TargetArray string            `json:"targetArray"`
	Mode        string            `json:"mode"`
	State       string            `json:"state"`
	Writable    string            `json:"writable,omitempty"`
	LagBytes    int64             `json:"lagBytes"`
	RPOSeconds  float64           `json:"rpoSeconds"`
	LastSyncAt  *time.Time        `json:"lastSyncAt,omitempty"`
	Error       string            `json:"error,omitempty"`
	Pairs       []ReplicationPair `json:"pairs"`
}

// TargetPort is one of an array's FC front-end ports.
type TargetPort struct {
	Name       string `json:"name"`
	WWPN       string `json:"wwpn"`
	WWNN       string `json:"wwnn"`
	Fabric     string `json:"fabric,omitempty"` // empty when logged in nowhere
	QueueLimit int    `json:"queueLimit"`
}

// Array is a storage array with its target ports and pools.
type Array struct {
	ID     string `json:"id"`
	Site   string `json:"site"`
	Driver string `json:"driver"`
	Info   struct {
		Name   string `json:"name"`
		Vendor string `json:"vendor"`
		Model  string `json:"model"`
		Serial string `json:"serial"`
	} `json:"info"`
	TargetPorts []TargetPort  `json:"targetPorts"`
	Pools       []string      `json:"pools"`
	VolumeCount int           `json:"volumeCount"`
	Status      *DeviceStatus `json:"status,omitempty"`
}

// Login is one entry of a fabric's name server.
type Login struct {
	WWPN         string     `json:"wwpn"`
	WWNN         string     `json:"wwnn"`
	Kind         string     `json:"kind"`
	NPIV         bool       `json:"npiv"`
	PhysicalWWPN string     `json:"physicalWWPN,omitempty"`
	SwitchPort   string     `json:"switchPort"`
	PortID       string     `json:"portId"`
	LoggedInAt   *time.Time `json:"loggedInAt,omitempty"`
}

// Zone is a zone on a fabric with who owns it (sanmob or external) and
// what uses it.
type Zone struct {
	Name      string   `json:"name"`
	Members   []string `json:"members"`
	Peer      []string `json:"peer,omitempty"`
	Effective bool     `json:"effective"`
	Owner     string   `json:"owner"`
	Users     []string `json:"users"`
}

// PoolPoint is one sample of a pool's history.
type PoolPoint struct {
	At               time.Time `json:"at"`
	UsedBytes        int64     `json:"usedBytes"`
	ProvisionedBytes int64     `json:"provisionedBytes"`
}

// DarkVolume is a volume allocated but presented to nothing (or only to
// nodes the inventory no longer has).
type DarkVolume struct {
	Volume           string    `json:"volume"`
	Name             string    `json:"name"`
	Array            string    `json:"array"`
	Pool             string    `json:"pool"`
	ProvisionedBytes int64     `json:"provisionedBytes"`
	UsedBytes        int64     `json:"usedBytes"`
	DarkSince        time.Time `json:"darkSince"`
	DarkSeconds      float64   `json:"darkSeconds"`
	Reason           string    `json:"reason"`
	Detail           string    `json:"detail"`
	HostGroups       []string  `json:"hostGroups,omitempty"`
}

// DarkStorage is the dark-storage report: every dark volume and their
// totals.
type DarkStorage struct {
	Items  []DarkVolume `json:"items"`
	Totals struct {
		ProvisionedBytes int64 `json:"provisionedBytes"`
		UsedBytes        int64 `json:"usedBytes"`
		Volumes          int   `json:"volumes"`
	} `json:"totals"`
	UnreadArrays []string  `json:"unreadArrays,omitempty"`
	ObservedAt   time.Time `json:"observedAt"`
}

// VolumeSpec asks for a volume. Site, Array and Pool each narrow the
// placement; Thin defaults to true.
type VolumeSpec struct {
	ID           string `json:"id,omitempty"`
	Name         string `json:"name"`
	SizeBytes    int64  `json:"sizeBytes"`
	Site         string `json:"site,omitempty"`
	Array        string `json:"array,omitempty"`
	Pool         string `json:"pool,omitempty"`
	Thin         *bool  `json:"thin,omitempty"`
	FromSnapshot string `json:"fromSnapshot,omitempty"`
}

// HBASpec is one physical port of a new host.
type HBASpec struct {
	Name      string `json:"name,omitempty"`
	WWPN      string `json:"wwpn"`
	WWNN      string `json:"wwnn"`
	Fabric    string `json:"fabric"`
	MaxVports int    `json:"maxVports,omitempty"`
}

// HostSpec asks for a host.
type HostSpec struct {
	ID   string    `json:"id,omitempty"`
	Name string    `json:"name,omitempty"`
	Site string    `json:"site"`
	HBAs []HBASpec `json:"hbas"`
}

// VMSpec asks for a VM; its vports are generated.
type VMSpec struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Host   string `json:"host"`
	Shares int    `json:"shares,omitempty"`
}

// LabFault makes the next operations of a lab device fail or slow down.
type LabFault struct {
	Target    string  `json:"target"`
	Op        string  `json:"op"`
	Count     int     `json:"count,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
	LatencyMs float64 `json:"latencyMs,omitempty"`
	Kind      string  `json:"kind,omitempty"` // unavailable (default), final, applied-timeout
}

// LabClock is the lab's virtual clock.
type LabClock struct {
	Now   time.Time `json:"now"`
	Speed float64   `json:"speed"`
}

// Mapping is one LUN map of a lab array, as the array itself has it.
type Mapping struct {
	Volume      string   `json:"volume"`
	LUN         int      `json:"lun"`
	HostGroup   string   `json:"hostGroup"`
	Initiators  []string `json:"initiators"`
	TargetPorts []string `json:"targetPorts"`
	Writable    bool     `json:"writable"`
}
