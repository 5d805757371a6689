// Package container owns berth's container records in the metadata store:
// their IDs and names, the options they were created with and their state
// (created, running, exited, with pids and exit code). It does not run
// anything: the engine creates bundles and the shim records what happens.
//
// It imports only store of berth, and must never import cli.
package container

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mobynetwork "github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/store"
)

// Status is a container's state as recorded.
type Status string

const (
	Created Status = "created"
	Running Status = "running"
	Exited  Status = "exited"
	// Restarting is a container whose shim waits out the restart
	// policy's back-off before starting it again.
	Restarting Status = "restarting"
)

// ErrNotFound is returned (wrapped) for an unknown container; the message
// is Docker's.
var ErrNotFound = errors.New("No such container")

// ErrNameInUse classifies a name conflict (wrapped in NameConflictError).
var ErrNameInUse = errors.New("container name in use")

// NameConflictError carries Docker's message for a taken name.
type NameConflictError struct{ Name, ID string }

func (e *NameConflictError) Error() string {
	return fmt.Sprintf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", e.Name, e.ID)
}

func (e *NameConflictError) Is(target error) bool { return target == ErrNameInUse }

// Config is what a container was created with: the run flags that matter
// after creation. It is stored as JSON, so fields may be added freely.
type Config struct {
	Cmd           []string          `json:"cmd,omitempty"`
	Entrypoint    []string          `json:"entrypoint,omitempty"`
	EntrypointSet bool              `json:"entrypointSet,omitempty"`
	Env           []string          `json:"env,omitempty"`
	WorkingDir    string            `json:"workingDir,omitempty"`
	User          string            `json:"user,omitempty"`
	Hostname      string            `json:"hostname,omitempty"`
	CgroupParent  string            `json:"cgroupParent,omitempty"`
	AutoRemove    bool              `json:"autoRemove,omitempty"`
	LogOpts       map[string]string `json:"logOpts,omitempty"`
	// Healthcheck is --health-* and --no-healthcheck (Test ["NONE"]);
	// zero fields take the image's HEALTHCHECK values.
	Healthcheck *dockerspec.HealthcheckConfig `json:"healthcheck,omitempty"`
	// Init runs berth's minimal init as PID 1 (--init).
	Init bool `json:"init,omitempty"`
	// Restart is the --restart policy; the zero value is "no".
	Restart RestartPolicy `json:"restart,omitempty"`
	// Tty, OpenStdin and StdinOnce are -t, -i and (for an attached -i)
	// closing the container's stdin when the first attached client's
	// stdin ends, as Docker's Config fields of those names.
	Tty       bool     `json:"tty,omitempty"`
	OpenStdin bool     `json:"openStdin,omitempty"`
	StdinOnce bool     `json:"stdinOnce,omitempty"`
	GroupAdd  []string `json:"groupAdd,omitempty"` // --group-add: names or gids
	ReadOnly  bool     `json:"readOnly,omitempty"`
	// StopSignal is --stop-signal, else the image's STOPSIGNAL, as typed
	// ("" for SIGTERM); StopTimeout is --stop-timeout in seconds (nil for
	// the default, 10; -1 waits for ever).
	StopSignal  string `json:"stopSignal,omitempty"`
	StopTimeout *int   `json:"stopTimeout,omitempty"`
	// LogDriver is "json-file" (also for "") or "none".
	LogDriver string `json:"logDriver,omitempty"`
	// Labels are --label and --label-file over the image's labels (the
	// container's win), merged at create as Docker does.
	Labels map[string]string `json:"labels,omitempty"`
	// Resources are the cgroup limits and --ulimit (Docker's
	// HostConfig.Resources, as checked at create and changed by
	// `update`); its CgroupParent is unused, CgroupParent above is it.
	Resources   containertypes.Resources `json:"resources,omitzero"`
	ShmSize     int64                    `json:"shmSize,omitempty"`     // --shm-size in bytes; 0 for Docker's default
	OomScoreAdj int                      `json:"oomScoreAdj,omitempty"` // --oom-score-adj

	// Security and namespaces: run's flags of these names, as Docker's
	// HostConfig fields. SecurityOpt holds a seccomp profile's content,
	// not its file name. IpcMode is "" (private), none, private,
	// shareable, host or container:<full ID>; PidMode "", host or
	// container:<full ID>; UTSMode and UsernsMode "" or host.
	Privileged        bool              `json:"privileged,omitempty"`
	CapAdd            []string          `json:"capAdd,omitempty"`
	CapDrop           []string          `json:"capDrop,omitempty"`
	SecurityOpt       []string          `json:"securityOpt,omitempty"`
	Devices           []DeviceMapping   `json:"devices,omitempty"`
	DeviceCgroupRules []string          `json:"deviceCgroupRules,omitempty"`
	Sysctls           map[string]string `json:"sysctls,omitempty"`
	IpcMode           string            `json:"ipcMode,omitempty"`
	PidMode           string            `json:"pidMode,omitempty"`
	UTSMode           string            `json:"utsMode,omitempty"`
	UsernsMode        string            `json:"usernsMode,omitempty"`
	// UsernsRemap is the user-namespace remapping the container was
	// created with (berth --userns-remap), nil for none: its root is
	// UIDMaps[0].HostID on the host.
	UsernsRemap *IDMapping `json:"usernsRemap,omitempty"`

	// Binds are the -v values with a source, as typed (HostConfig.Binds);
	// Volumes the -v values without one, anonymous volumes
	// (Config.Volumes); Mounts are --mount (HostConfig.Mounts); Tmpfs is
	// --tmpfs, destination → options; VolumesFrom is --volumes-from.
	Binds       []string          `json:"binds,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	Mounts      []mount.Mount     `json:"mounts,omitempty"`
	Tmpfs       map[string]string `json:"tmpfs,omitempty"`
	VolumesFrom []string          `json:"volumesFrom,omitempty"`
	// MountPoints are all of the above and the image's VOLUMEs resolved
	// at create: what the spec mounts, what inspect shows and what
	// tells whether a volume is in use.
	MountPoints []MountPoint `json:"mountPoints,omitempty"`
	// Rm is --rm, attached or not: removing the container removes its
	// anonymous volumes too.
	Rm bool `json:"rm,omitempty"`
	// Networking: run's flags of these names, as Docker's HostConfig and
	// Config fields. NetworkMode is "bridge" (also for "" and
	// "default"), "host" or "none". PortBindings are -p; ExposedPorts
	// are --expose and the ports -p publishes (the image's EXPOSE is
	// added at start, for -P); ExtraHosts are --add-host as name:address.
	NetworkMode     string              `json:"networkMode,omitempty"`
	PortBindings    mobynetwork.PortMap `json:"portBindings,omitempty"`
	PublishAllPorts bool                `json:"publishAllPorts,omitempty"`
	ExposedPorts    mobynetwork.PortSet `json:"exposedPorts,omitempty"`
	ExtraHosts      []string            `json:"extraHosts,omitempty"`
	DNS             []string            `json:"dns,omitempty"`
	DNSSearch       []string            `json:"dnsSearch,omitempty"`
	DNSOptions      []string            `json:"dnsOptions,omitempty"`
	// On a user-defined network (NetworkMode is its name): --ip and
	// --network-alias (the aliases are for the network's DNS resolver).
	IPv4Address    string   `json:"ipv4Address,omitempty"`
	IPv6Address    string   `json:"ipv6Address,omitempty"` // --ip6
	NetworkAliases []string `json:"networkAliases,omitempty"`
	// MacAddress is --mac-address, for the endpoint on NetworkMode's
	// network; Domainname is --domainname.
	MacAddress string `json:"macAddress,omitempty"`
	Domainname string `json:"domainname,omitempty"`
	// Links are --link NAME[:ALIAS] values, as typed.
	Links []string `json:"links,omitempty"`
	// Networks are the networks the container is on, in the order it
	// joined them, once `network connect` or `disconnect` changed them;
	// nil (null, never set) means NetworkMode's, with IPv4Address and
	// NetworkAliases; empty means none.
	Networks []NetworkAttachment `json:"networks"`
}

// NetworkNames are the names of the networks cfg puts a container on,
// in order: Networks once connect or disconnect changed them, else
// NetworkMode's ("bridge" for "" and "default"); none for a container
// that joins another's network namespace (container:ID).
func (cfg Config) NetworkNames() []string {
	if cfg.Networks != nil {
		out := make([]string, 0, len(cfg.Networks))
		for _, a := range cfg.Networks {
			out = append(out, a.Network)
		}
		return out
	}
	switch cfg.NetworkMode {
	case "", "default":
		return []string{"bridge"}
	}
	if strings.HasPrefix(cfg.NetworkMode, "container:") {
		return nil
	}
	return []string{cfg.NetworkMode}
}

// NetworkAttachment is one network a container is on (Docker's
// EndpointSettings as asked for): the network's name (or host, none,
// bridge), --ip, --ip6, its network-scoped aliases, links and driver
// options.
type NetworkAttachment struct {
	Network     string   `json:"network"`
	IPv4Address string   `json:"ipv4Address,omitempty"`
	IPv6Address string   `json:"ipv6Address,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`
	MacAddress  string   `json:"macAddress,omitempty"`
	// Links are connect --link NAME[:ALIAS] values, as typed: on a
	// user-defined network, names only this container resolves.
	Links []string `json:"links,omitempty"`
	// DriverOpts are connect --driver-opt KEY=VALUE, as given.
	DriverOpts map[string]string `json:"driverOpts,omitempty"`
}

// DeviceMapping is one --device (Docker's HostConfig.Devices entry).
type DeviceMapping struct {
	PathOnHost        string `json:"pathOnHost"`
	PathInContainer   string `json:"pathInContainer"`
	CgroupPermissions string `json:"cgroupPermissions"`
}

// IDMapping is a user-namespace remapping: the remap user and group it
// came from ("berth:berth") and their subordinate ID ranges.
type IDMapping struct {
	Name    string    `json:"name"`
	UIDMaps []IDRange `json:"uidMaps"`
	GIDMaps []IDRange `json:"gidMaps"`
}

// IDRange maps Size IDs from ContainerID in the container to HostID on
// the host.
type IDRange struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

// MountPoint is one of a container's mounts as resolved at create
// (Docker's MountPoint): a bind, a volume or a tmpfs.
type MountPoint struct {
	Type        mount.Type `json:"type"`
	Name        string     `json:"name,omitempty"`   // a volume's name
	Source      string     `json:"source,omitempty"` // a bind's host path; a volume's _data
	Destination string     `json:"destination"`
	Driver      string     `json:"driver,omitempty"`
	Mode        string     `json:"mode,omitempty"` // as typed after the second colon of -v ("z" for -v volumes)
	RW          bool       `json:"rw"`
	Propagation string     `json:"propagation,omitempty"`
	// Anonymous is a volume made for this container (image VOLUME, -v
	// /path, --mount without a source): rm -v removes it.
	Anonymous bool `json:"anonymous,omitempty"`
	// CopyData seeds an empty volume from the image (not volume-nocopy).
	CopyData bool `json:"copyData,omitempty"`
	// NonRecursive is bind-recursive=disabled: a plain bind.
	NonRecursive bool `json:"nonRecursive,omitempty"`
	// ReadOnlyNonRecursive is bind-recursive=writable: read-only, the
	// mounts below it left as they are (Docker 24's read-only binds).
	ReadOnlyNonRecursive bool `json:"readOnlyNonRecursive,omitempty"`
	// TmpfsOptions are a tmpfs mount's (size=…,mode=…).
	TmpfsOptions string `json:"tmpfsOptions,omitempty"`
	// Subpath is a volume's volume-subpath: the directory or file in it
	// that is mounted instead of the whole volume.
	Subpath string `json:"subpath,omitempty"`
}

// Container is one container record.
type Container struct {
	ID       string
	Name     string // without Docker's leading "/"
	ImageID  string
	Image    string   // as the user typed it
	Command  []string // what the container runs: entrypoint and cmd
	Created  time.Time
	Config   Config
	Status   Status
	Paused   bool // frozen (`pause`); only ever true while Status is Running
	Pid      int  // the container init, on the host
	ShimPid  int
	ExitCode int
	Started  time.Time // zero until it first ran
	Finished time.Time // zero until it first exited
	State    State
}

// State is what the shim records about a container's runs beyond its
// status.
type State struct {
	RestartCount int  `json:"restartCount,omitempty"` // restarts by the policy since the last start by a user
	OOMKilled    bool `json:"oomKilled,omitempty"`    // the kernel's OOM killer killed a process of its last run
	// ManuallyStopped is a stop or kill by a user: the restart policy
	// leaves the container stopped, and `system boot` leaves an
	// unless-stopped container so.
	ManuallyStopped bool `json:"manuallyStopped,omitempty"`
}

// Store reads and writes container records.
type Store struct {
	db *store.DB
	// NetworkEvents, when set, records Docker's network event action
	// (connect, disconnect) of container id on each of networks, in the
	// transaction ctx carries: the store calls it before a restart's
	// "start" (connect) and before each "die" (disconnect), as Docker
	// orders them. The network records are not this package's.
	NetworkEvents func(ctx context.Context, id string, networks []string, action string, at time.Time) error
}

// New returns the container records of db.
func New(db *store.DB) *Store { return &Store{db: db} }

// NewID returns a random 64-hex-character container ID.
func NewID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`) })

// CheckName validates a --name value as Docker does and returns it without
// a leading "/".
func CheckName(name string) (string, error) {
	if !validName().MatchString(name) {
		return "", fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return strings.TrimPrefix(name, "/"), nil
}

// Insert records c as created. With c.Name empty it picks a free
// adjective_surname name, retrying on a conflict; a given name that is
// taken is a *NameConflictError.
func (s *Store) Insert(ctx context.Context, c *Container) error {
	cfg, err := json.Marshal(c.Config)
	if err != nil {
		return err
	}
	cmd, _ := json.Marshal(c.Command)
	generated := c.Name == ""
	for attempt := 0; ; attempt++ {
		name := c.Name
		if generated {
			name = RandomName(attempt)
		}
		err = s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO containers (id, name, image_id, image, command, created, config, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ID, name, c.ImageID, c.Image, string(cmd), c.Created.UnixNano(), string(cfg), string(Created))
			return err
		})
		if err == nil {
			c.Name, c.Status = name, Created
			return nil
		}
		if !strings.Contains(err.Error(), "UNIQUE") || !strings.Contains(err.Error(), "containers.name") {
			return fmt.Errorf("container record: %w", err)
		}
		if !generated || attempt >= 10 {
			var owner string
			s.db.View(ctx, func(q store.Querier) error {
				return q.QueryRowContext(ctx, `SELECT id FROM containers WHERE name = ?`, name).Scan(&owner)
			})
			return &NameConflictError{Name: name, ID: owner}
		}
	}
}

const columns = `id, name, image_id, image, command, created, config, status, pid, shim_pid, exit_code, started, finished, state, paused`

func scan(row interface{ Scan(...any) error }) (*Container, error) {
	var c Container
	var cmd, cfg, status, state string
	var created, started, finished int64
	if err := row.Scan(&c.ID, &c.Name, &c.ImageID, &c.Image, &cmd, &created, &cfg, &status, &c.Pid, &c.ShimPid, &c.ExitCode, &started, &finished, &state, &c.Paused); err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(cmd), &c.Command)
	json.Unmarshal([]byte(cfg), &c.Config)
	json.Unmarshal([]byte(state), &c.State)
	c.Status = Status(status)
	c.Created = time.Unix(0, created)
	if started != 0 {
		c.Started = time.Unix(0, started)
	}
	if finished != 0 {
		c.Finished = time.Unix(0, finished)
	}
	return &c, nil
}

// Get resolves what a user typed: a full ID, a name (with or without "/"),
// or a unique ID prefix, in Docker's order.
func (s *Store) Get(ctx context.Context, ref string) (*Container, error) {
	var c *Container
	err := s.db.View(ctx, func(q store.Querier) error {
		var err error
		c, err = get(ctx, q, ref)
		return err
	})
	return c, err
}

func get(ctx context.Context, q store.Querier, ref string) (*Container, error) {
	notFound := fmt.Errorf("%w: %s", ErrNotFound, ref)
	if ref == "" {
		return nil, notFound
	}
	one := func(where string, arg any) (*Container, error) {
		c, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM containers WHERE `+where, arg))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return c, err
	}
	for _, try := range []struct {
		where string
		arg   string
	}{{"id = ?", ref}, {"name = ?", strings.TrimPrefix(ref, "/")}} {
		if c, err := one(try.where, try.arg); c != nil || err != nil {
			return c, err
		}
	}
	if !isHex(ref) {
		return nil, notFound
	}
	rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM containers WHERE substr(id, 1, ?) = ? LIMIT 2`, len(ref), ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []*Container
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, err
		}
		found = append(found, c)
	}
	switch len(found) {
	case 0:
		return nil, notFound
	case 1:
		return found[0], rows.Err()
	}
	return nil, fmt.Errorf("multiple IDs found with provided prefix: %s", ref)
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

// List returns every container, newest first.
func (s *Store) List(ctx context.Context) ([]*Container, error) {
	var out []*Container
	err := s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM containers ORDER BY created DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// UsesImage reports whether any container was created from image id.
func (s *Store) UsesImage(ctx context.Context, imageID string) (bool, error) {
	var n int
	err := s.db.View(ctx, func(q store.Querier) error {
		return q.QueryRowContext(ctx, `SELECT count(*) FROM containers WHERE image_id = ?`, imageID).Scan(&n)
	})
	return n > 0, err
}

// UsingVolume returns the IDs of the containers (any state) that mount
// volume name, oldest first (in the transaction ctx carries, if any).
func (s *Store) UsingVolume(ctx context.Context, name string) ([]string, error) {
	return s.db.Strings(ctx, `SELECT DISTINCT c.id FROM containers c, json_each(c.config, '$.mountPoints') m
			WHERE json_extract(m.value, '$.type') = 'volume' AND json_extract(m.value, '$.name') = ? ORDER BY c.created`, name)
}

// SetCommand records what the container runs (known once its spec is built).
func (s *Store) SetCommand(ctx context.Context, id string, cmd []string) error {
	data, _ := json.Marshal(cmd)
	return s.exec(ctx, `UPDATE containers SET command = ? WHERE id = ?`, string(data), id)
}

// SetRunning records that the container's init runs as pid under the
// shim shimPid since started, after restarts restarts by its policy (0
// for a start by a user, which also clears a manual stop).
func (s *Store) SetRunning(ctx context.Context, id string, pid, shimPid int, started time.Time, restarts int) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE containers SET status = ?, pid = ?, shim_pid = ?, started = ?, paused = 0,
			state = json_set(CASE WHEN ? = 0 THEN json_set(state, '$.manuallyStopped', json('false')) ELSE state END,
				'$.restartCount', ?, '$.oomKilled', json('false'))
			WHERE id = ?`,
			string(Running), pid, shimPid, started.UnixNano(), restarts, restarts, id); err != nil {
			return err
		}
		// The start (and the connects before it) commit with the status,
		// before the shim can record the exit: a container that exits at
		// once still has its start before its die.
		if err := s.networkEvents(ctx, id, "connect", started); err != nil {
			return err
		}
		return s.event(ctx, tx, id, "start", started, nil)
	})
}

// SetExited records the container's exit: its code, whether the kernel
// OOM-killed it, and whether it will be restarted (status restarting)
// or not (exited); and its "die" event (with the network disconnects
// before it), in the same transaction. A container that was waiting to
// be restarted did not run since its last exit: no event again.
func (s *Store) SetExited(ctx context.Context, id string, code int, finished time.Time, oomKilled, restarting bool) error {
	st := Exited
	if restarting {
		st = Restarting
	}
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var was string
		if err := tx.QueryRow(`SELECT status FROM containers WHERE id = ?`, id).Scan(&was); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		if _, err := tx.Exec(`UPDATE containers SET status = ?, exit_code = ?, finished = ?, pid = 0, paused = 0,
			shim_pid = CASE WHEN ? THEN shim_pid ELSE 0 END, state = json_set(state, '$.oomKilled', json(?))
			WHERE id = ?`,
			string(st), code, finished.UnixNano(), restarting, fmt.Sprint(oomKilled), id); err != nil {
			return err
		}
		if Status(was) == Restarting {
			return nil
		}
		if err := s.networkEvents(ctx, id, "disconnect", finished); err != nil {
			return err
		}
		return s.event(ctx, tx, id, "die", finished, map[string]string{"exitCode": fmt.Sprint(code)})
	})
}

// networkEvents records, through NetworkEvents, Docker's network event
// action of container id on each of its networks (in the transaction
// ctx carries).
func (s *Store) networkEvents(ctx context.Context, id, action string, at time.Time) error {
	if s.NetworkEvents == nil {
		return nil
	}
	c, err := s.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.NetworkEvents(ctx, id, c.Config.NetworkNames(), action, at)
}

// Event records Docker's event action of container id (with its name and
// image, and attrs), as of at.
func (s *Store) Event(ctx context.Context, id, action string, at time.Time, attrs map[string]string) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.event(ctx, tx, id, action, at, attrs)
	})
}

// event records Docker's event action of container id (with its name
// and image, and attrs).
func (s *Store) event(ctx context.Context, tx *sql.Tx, id, action string, at time.Time, attrs map[string]string) error {
	var name, image string
	if err := tx.QueryRow(`SELECT name, image FROM containers WHERE id = ?`, id).Scan(&name, &image); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}
	all := map[string]string{"name": name, "image": image}
	for k, v := range attrs {
		all[k] = v
	}
	return s.db.AddEvent(ctx, store.Event{Time: at, Type: "container", Action: action, Actor: id, Attributes: all})
}

// SetManuallyStopped records a stop or kill by a user (see State).
func (s *Store) SetManuallyStopped(ctx context.Context, id string) error {
	return s.exec(ctx, `UPDATE containers SET state = json_set(state, '$.manuallyStopped', json('true')) WHERE id = ?`, id)
}

// MarkDead records an exit for a container still recorded as running
// whose shim is gone, and reports whether it did (false when the shim
// recorded the exit itself meanwhile). The check and the write are one
// transaction, so a real exit code is never overwritten.
func (s *Store) MarkDead(ctx context.Context, id string, code int, finished time.Time) (bool, error) {
	changed := false
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var was string
		if err := tx.QueryRow(`SELECT status FROM containers WHERE id = ?`, id).Scan(&was); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		res, err := tx.Exec(`UPDATE containers SET status = ?, exit_code = ?, finished = ?, pid = 0, shim_pid = 0, paused = 0 WHERE id = ? AND status IN (?, ?)`,
			string(Exited), code, finished.UnixNano(), id, string(Running), string(Restarting))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		// One waiting out its restart back-off had its die already.
		if changed = n == 1; changed && Status(was) == Running {
			if err := s.networkEvents(ctx, id, "disconnect", finished); err != nil {
				return err
			}
			return s.event(ctx, tx, id, "die", finished, map[string]string{"exitCode": fmt.Sprint(code)})
		}
		return nil
	})
	return changed, err
}

// SetPaused records that a running container was frozen (or thawed). It
// reports false, changing nothing, when the container is not running
// (it exited meanwhile).
func (s *Store) SetPaused(ctx context.Context, id string, paused bool) (bool, error) {
	changed := false
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE containers SET paused = ? WHERE id = ? AND status = ?`, paused, id, string(Running))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		changed = n == 1
		return nil
	})
	return changed, err
}

// SetName renames container id; a name another container has is a
// *NameConflictError. name is checked with CheckName by the caller.
func (s *Store) SetName(ctx context.Context, id, name string) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE containers SET name = ? WHERE id = ?`, name, id)
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			var owner string
			tx.QueryRow(`SELECT id FROM containers WHERE name = ?`, name).Scan(&owner)
			return &NameConflictError{Name: name, ID: owner}
		}
		return err
	})
}

// Delete removes the record of container id (in the transaction ctx
// carries, if any).
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.exec(ctx, `DELETE FROM containers WHERE id = ?`, id)
}

func (s *Store) exec(ctx context.Context, query string, args ...any) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.Exec(query, args...)
		return err
	})
}
