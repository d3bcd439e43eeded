// Package keyreg is the master's key registry: which minion holds which
// key and in what state (pending, accepted, rejected), plus the denied
// table of known ids seen with another key. go-memdb answers lookups
// (by id, nkey, state, os, arch); a JetStream KV bucket is the durable
// truth, written before memdb so an acknowledged change survives restart.
package keyreg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/hashicorp/go-memdb"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket holding the key registry.
const Bucket = "brine_keys"

// ErrNotFound is returned for an id the registry does not know.
var ErrNotFound = errors.New("key not found")

// Minion is one minion key record.
type Minion struct {
	ID        string         `json:"id"`
	Nkey      string         `json:"nkey"`
	State     string         `json:"state"`
	OS        string         `json:"os,omitempty"`
	Arch      string         `json:"arch,omitempty"`
	Grains    map[string]any `json:"grains,omitempty"`
	Addr      string         `json:"addr,omitempty"`
	FirstSeen time.Time      `json:"first_seen"`
	Updated   time.Time      `json:"updated"`
	// Tok is the id's subject token, indexed so a subject maps back to
	// its minion in one lookup.
	Tok string `json:"-"`
}

// Denied records a known id that showed up with a key other than its own.
type Denied struct {
	ID        string    `json:"id"`
	Nkey      string    `json:"nkey"`
	Addr      string    `json:"addr,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`
}

// Record renders a minion for operators.
func (m *Minion) Record() proto.KeyRecord {
	return proto.KeyRecord{ID: m.ID, Nkey: m.Nkey, State: m.State, Finger: keys.Fingerprint(m.Nkey), OS: m.OS, Arch: m.Arch, Addr: m.Addr,
		FirstSeen: m.FirstSeen.UTC().Format(time.RFC3339), LastSeen: m.Updated.UTC().Format(time.RFC3339)}
}

// Record renders a denied key for operators.
func (d *Denied) Record() proto.KeyRecord {
	return proto.KeyRecord{ID: d.ID, Nkey: d.Nkey, State: proto.KeyDenied, Finger: keys.Fingerprint(d.Nkey), Addr: d.Addr, Count: d.Count,
		FirstSeen: d.FirstSeen.UTC().Format(time.RFC3339), LastSeen: d.LastSeen.UTC().Format(time.RFC3339)}
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		"minions": {Name: "minions", Indexes: map[string]*memdb.IndexSchema{
			"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			"nkey":  {Name: "nkey", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Nkey"}},
			"tok":   {Name: "tok", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Tok"}},
			"state": {Name: "state", Indexer: &memdb.StringFieldIndex{Field: "State"}},
			"os":    {Name: "os", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "OS"}},
			"arch":  {Name: "arch", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Arch"}},
		}},
		"denied": {Name: "denied", Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				&memdb.StringFieldIndex{Field: "ID"}, &memdb.StringFieldIndex{Field: "Nkey"}}}},
			"minion": {Name: "minion", Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		}},
	}}
}

// Registry is the key registry. Writes are serialised by memdb's single
// writer; reads are lock-free snapshots.
type Registry struct {
	db *memdb.MemDB
	kv jetstream.KeyValue

	// counts holds the number of minions per state, kept with every
	// write so Count is O(1): the pending-key cap is checked on every key
	// request, and counting by listing made a fleet's arrival quadratic.
	countMu sync.Mutex
	counts  map[string]int
}

// Open creates or opens the KV bucket (file storage) and rebuilds the
// in-memory tables from it.
func Open(ctx context.Context, js jetstream.JetStream) (*Registry, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket, Storage: jetstream.FileStorage, History: 1,
		Description: "brine minion keys"})
	if err != nil {
		return nil, fmt.Errorf("keyreg: bucket: %w", err)
	}
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("keyreg: schema: %w", err)
	}
	r := &Registry{db: db, kv: kv, counts: map[string]int{}}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Registry) load(ctx context.Context) error {
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keyreg: list: %w", err)
	}
	txn := r.db.Txn(true)
	defer txn.Abort()
	for k := range lister.Keys() {
		e, err := r.kv.Get(ctx, k)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			return fmt.Errorf("keyreg: get %s: %w", k, err)
		}
		switch k[:2] {
		case "m.":
			var m Minion
			if err := json.Unmarshal(e.Value(), &m); err != nil {
				return fmt.Errorf("keyreg: record %s: %w", k, err)
			}
			m.Tok = proto.Token(m.ID)
			if err := txn.Insert("minions", &m); err != nil {
				return fmt.Errorf("keyreg: load %s: %w", k, err)
			}
			r.count(m.State, 1)
		case "d.":
			var d Denied
			if err := json.Unmarshal(e.Value(), &d); err != nil {
				return fmt.Errorf("keyreg: record %s: %w", k, err)
			}
			if err := txn.Insert("denied", &d); err != nil {
				return fmt.Errorf("keyreg: load %s: %w", k, err)
			}
		}
	}
	txn.Commit()
	return nil
}

func minionKey(id string) string       { return "m." + proto.Token(id) }
func deniedKey(id, nkey string) string { return "d." + proto.Token(id) + "." + nkey }

// Get returns a copy of the record for id.
func (r *Registry) Get(id string) (Minion, bool) {
	raw, err := r.db.Txn(false).First("minions", "id", id)
	if err != nil || raw == nil {
		return Minion{}, false
	}
	return *raw.(*Minion), true
}

// ByNkey returns a copy of the record holding nkey.
func (r *Registry) ByNkey(nkey string) (Minion, bool) {
	raw, err := r.db.Txn(false).First("minions", "nkey", nkey)
	if err != nil || raw == nil {
		return Minion{}, false
	}
	return *raw.(*Minion), true
}

// ByToken finds a minion by its subject token.
func (r *Registry) ByToken(tok string) (Minion, bool) {
	raw, err := r.db.Txn(false).First("minions", "tok", tok)
	if err != nil || raw == nil {
		return Minion{}, false
	}
	return *raw.(*Minion), true
}

// List returns copies of every minion in the given states (all when none),
// sorted by id.
func (r *Registry) List(states ...string) []Minion {
	txn := r.db.Txn(false)
	var out []Minion
	collect := func(it memdb.ResultIterator) {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			out = append(out, *raw.(*Minion))
		}
	}
	if len(states) == 0 {
		if it, err := txn.Get("minions", "id"); err == nil {
			collect(it)
		}
	}
	for _, s := range states {
		if it, err := txn.Get("minions", "state", s); err == nil {
			collect(it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ByGrain lists minions whose indexed os or arch equals value.
func (r *Registry) ByGrain(index, value string) []Minion {
	it, err := r.db.Txn(false).Get("minions", index, value)
	if err != nil {
		return nil
	}
	var out []Minion
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*Minion))
	}
	return out
}

// Match lists minions in the given states whose id matches the glob.
func (r *Registry) Match(glob string, states ...string) []Minion {
	var out []Minion
	for _, m := range r.List(states...) {
		if ok, err := path.Match(glob, m.ID); err == nil && ok {
			out = append(out, m)
		}
	}
	return out
}

// DeniedList returns every denied record, sorted by id.
func (r *Registry) DeniedList() []Denied {
	it, err := r.db.Txn(false).Get("denied", "minion")
	if err != nil {
		return nil
	}
	var out []Denied
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*Denied))
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].ID < out[j].ID || out[i].ID == out[j].ID && out[i].Nkey < out[j].Nkey
	})
	return out
}

// Put stores m durably, then in memory. The KV put returning is the
// acknowledgement; memdb is updated only after it.
func (r *Registry) Put(ctx context.Context, m Minion) error {
	if !proto.ValidID(m.ID) {
		return fmt.Errorf("keyreg: put: bad id %q", m.ID)
	}
	m.Tok = proto.Token(m.ID)
	b, err := json.Marshal(&m)
	if err != nil {
		return fmt.Errorf("keyreg: put %s: %w", m.ID, err)
	}
	if _, err := r.kv.Put(ctx, minionKey(m.ID), b); err != nil {
		return fmt.Errorf("keyreg: put %s: %w", m.ID, err)
	}
	txn := r.db.Txn(true)
	defer txn.Abort()
	old, _ := txn.First("minions", "id", m.ID)
	if old != nil {
		_ = txn.Delete("minions", old)
	}
	if err := txn.Insert("minions", &m); err != nil {
		return fmt.Errorf("keyreg: put %s: %w", m.ID, err)
	}
	txn.Commit()
	if old != nil {
		r.count(old.(*Minion).State, -1)
	}
	r.count(m.State, 1)
	return nil
}

// count adjusts the per-state count; it runs after the write txn that
// caused it, and memdb serialises writers, so counts follow the table.
func (r *Registry) count(state string, d int) {
	r.countMu.Lock()
	r.counts[state] += d
	r.countMu.Unlock()
}

// Count is the number of minions in state, without listing them.
func (r *Registry) Count(state string) int {
	r.countMu.Lock()
	defer r.countMu.Unlock()
	return r.counts[state]
}

// Delete removes the key for id (durably first).
func (r *Registry) Delete(ctx context.Context, id string) error {
	if _, ok := r.Get(id); !ok {
		return fmt.Errorf("keyreg: delete %s: %w", id, ErrNotFound)
	}
	if err := r.kv.Purge(ctx, minionKey(id)); err != nil {
		return fmt.Errorf("keyreg: delete %s: %w", id, err)
	}
	txn := r.db.Txn(true)
	defer txn.Abort()
	old, _ := txn.First("minions", "id", id)
	if _, err := txn.DeleteAll("minions", "id", id); err != nil {
		return fmt.Errorf("keyreg: delete %s: %w", id, err)
	}
	txn.Commit()
	if old != nil {
		r.count(old.(*Minion).State, -1)
	}
	return nil
}

// PutDenied records (or counts again) a denied key.
func (r *Registry) PutDenied(ctx context.Context, id, nkey, addr string, now time.Time) (Denied, error) {
	d := Denied{ID: id, Nkey: nkey, Addr: addr, FirstSeen: now, LastSeen: now, Count: 1}
	if raw, _ := r.db.Txn(false).First("denied", "id", id, nkey); raw != nil {
		old := raw.(*Denied)
		d.FirstSeen, d.Count = old.FirstSeen, old.Count+1
	}
	b, err := json.Marshal(&d)
	if err != nil {
		return d, fmt.Errorf("keyreg: deny %s: %w", id, err)
	}
	if _, err := r.kv.Put(ctx, deniedKey(id, nkey), b); err != nil {
		return d, fmt.Errorf("keyreg: deny %s: %w", id, err)
	}
	txn := r.db.Txn(true)
	defer txn.Abort()
	if err := txn.Insert("denied", &d); err != nil {
		return d, fmt.Errorf("keyreg: deny %s: %w", id, err)
	}
	txn.Commit()
	return d, nil
}

// DeleteDenied removes one denied record.
func (r *Registry) DeleteDenied(ctx context.Context, id, nkey string) error {
	if err := r.kv.Purge(ctx, deniedKey(id, nkey)); err != nil {
		return fmt.Errorf("keyreg: delete denied %s: %w", id, err)
	}
	txn := r.db.Txn(true)
	defer txn.Abort()
	if _, err := txn.DeleteAll("denied", "id", id, nkey); err != nil {
		return fmt.Errorf("keyreg: delete denied %s: %w", id, err)
	}
	txn.Commit()
	return nil
}
