// Package remotefs is a connected minion's view of the master: its
// `salt://` file client and its encrypted pillar. Both talk to the master
// over request/reply on the minion's own request subject, which the
// broker lets only this minion publish to, with replies to the minion's
// private inbox.
//
// Files are cached under the data dir by content hash: every use of a
// file first asks the master for its size and SHA-256 (one small
// round trip) and transfers the content, in chunks below the message
// limit, only when no cached object has that hash. A second state run
// over an unchanged tree therefore moves no file content at all.
package remotefs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/fsroot"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// ErrRefused is wrapped when the master refused a path as outside its
// file roots, so callers can tell an attack or a typo from a missing file.
var ErrRefused = errors.New("refused by the master's file server")

// File-server operations, as the master's file server names them.
const (
	opStat      = "stat"
	opRead      = "read"
	opListFiles = "list_files"
	opListDirs  = "list_dirs"
)

// fileRequest and fileReply are the file server's wire form (version 1).
type fileRequest struct {
	V      int    `json:"v"`
	Op     string `json:"op"`
	URL    string `json:"url,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	Length int64  `json:"length,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Env    string `json:"saltenv,omitempty"`
}

type fileReply struct {
	V        int      `json:"v"`
	Size     int64    `json:"size,omitempty"`
	SHA256   string   `json:"sha256,omitempty"`
	Mode     uint32   `json:"mode,omitempty"`
	Data     []byte   `json:"data,omitempty"`
	EOF      bool     `json:"eof,omitempty"`
	List     []string `json:"list,omitempty"`
	NotFound bool     `json:"not_found,omitempty"`
	Refused  bool     `json:"refused,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// Files is the remote execmod.FileClient.
type Files struct {
	nc      *nats.Conn
	id      string
	dir     string
	log     *slog.Logger
	timeout time.Duration
	maxSize int64

	// Fetched counts content chunks received, Hits files served from the
	// cache after a stat; both exist for monitoring and tests.
	Fetched atomic.Int64
	Hits    atomic.Int64
}

var _ execmod.FileClient = (*Files)(nil)

// NewFiles returns a file client for minion id over nc caching under dir
// (DATA_DIR/files); an empty dir caches nothing between calls.
func NewFiles(nc *nats.Conn, id, dir string, log *slog.Logger) *Files {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Files{nc: nc, id: id, dir: dir, log: log.With("component", "remotefs"), timeout: 30 * time.Second, maxSize: 1 << 30}
}

func (f *Files) call(ctx context.Context, req fileRequest) (*fileReply, error) {
	req.V = 1
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("file server: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	msg, err := request(ctx, f.nc, proto.RequestSubject(f.id, "file"), b)
	if err != nil {
		return nil, fmt.Errorf("file server: %s %s: %w", req.Op, req.URL, err)
	}
	var rep fileReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return nil, fmt.Errorf("file server: reply: %w", err)
	}
	switch {
	case rep.Refused:
		return nil, fmt.Errorf("%w: %s", ErrRefused, rep.Error)
	case rep.NotFound:
		return nil, fmt.Errorf("%s: %w", req.URL, fileclient.ErrNotFound)
	case rep.Error != "":
		return nil, fmt.Errorf("file server: %s", rep.Error)
	}
	return &rep, nil
}

// Stat returns the size and SHA-256 the master holds for url.
func (f *Files) Stat(ctx context.Context, url string) (size int64, sum string, err error) {
	rep, err := f.call(ctx, fileRequest{Op: opStat, URL: url})
	if err != nil {
		return 0, "", err
	}
	return rep.Size, rep.SHA256, nil
}

func (f *Files) objectPath(sum string) (string, error) {
	if len(sum) != 64 {
		return "", fmt.Errorf("bad content hash %q", sum)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", fmt.Errorf("bad content hash %q", sum)
	}
	return filepath.Join(f.dir, "objects", sum[:2], sum), nil
}

// cached returns the content of the object with hash sum if the cache
// holds an intact copy.
func (f *Files) cached(sum string) ([]byte, bool) {
	if f.dir == "" {
		return nil, false
	}
	p, err := f.objectPath(sum)
	if err != nil {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	got := sha256.Sum256(b)
	if hex.EncodeToString(got[:]) != sum {
		f.log.Warn("cached file damaged, fetching it again", "object", p)
		_ = os.Remove(p)
		return nil, false
	}
	return b, true
}

// Read returns the content of url, from the cache when the master's hash
// matches a cached object, otherwise fetched in chunks and stored.
func (f *Files) Read(ctx context.Context, url string) ([]byte, error) {
	size, sum, err := f.Stat(ctx, url)
	if err != nil {
		return nil, err
	}
	if b, ok := f.cached(sum); ok {
		f.Hits.Add(1)
		return b, nil
	}
	if size > f.maxSize {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d a minion fetches", url, size, f.maxSize)
	}
	for attempt := 0; ; attempt++ {
		b, got, err := f.fetch(ctx, url, size)
		if err != nil {
			return nil, err
		}
		if got != "" {
			sum = got
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) == sum {
			if err := f.store(sum, b); err != nil {
				f.log.Warn("file not cached", "url", url, "err", err)
			}
			return b, nil
		}
		if attempt >= 2 {
			return nil, fmt.Errorf("%s: content does not match its hash (the file keeps changing on the master)", url)
		}
		if size, sum, err = f.Stat(ctx, url); err != nil {
			return nil, err
		}
	}
}

// fetch reads url chunk by chunk; it returns the hash the master gave
// with the last chunk, and restarts when the file changes in between.
func (f *Files) fetch(ctx context.Context, url string, size int64) ([]byte, string, error) {
	buf := bytes.NewBuffer(make([]byte, 0, size))
	var sum string
	for {
		rep, err := f.call(ctx, fileRequest{Op: opRead, URL: url, Offset: int64(buf.Len())})
		if err != nil {
			return nil, "", err
		}
		f.Fetched.Add(1)
		if sum != "" && rep.SHA256 != sum {
			// Changed between chunks: start over at the new version.
			buf.Reset()
			sum = ""
			continue
		}
		sum = rep.SHA256
		buf.Write(rep.Data)
		if int64(buf.Len()) > f.maxSize {
			return nil, "", fmt.Errorf("%s: larger than %d bytes", url, f.maxSize)
		}
		if rep.EOF {
			return buf.Bytes(), sum, nil
		}
		if len(rep.Data) == 0 {
			return nil, "", fmt.Errorf("%s: master sent an empty chunk before the end", url)
		}
	}
}

func (f *Files) store(sum string, b []byte) error {
	if f.dir == "" {
		return nil
	}
	p, err := f.objectPath(sum)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("file cache: %w", err)
	}
	return keys.WriteFileAtomic(p, b, 0o600)
}

// Cache makes url available as a local file and returns its path: a copy
// under DATA_DIR/files/<saltenv>/<path>, rewritten only when its content
// differs from the master's.
func (f *Files) Cache(ctx context.Context, url string) (string, error) {
	b, err := f.Read(ctx, url)
	if err != nil {
		return "", err
	}
	rel, env, err := fileclient.SplitURL(url)
	if err != nil {
		return "", err
	}
	if env == "" {
		env = "base"
	}
	dir := f.dir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "brine-files-"+proto.Token(f.id))
	}
	root := filepath.Join(dir, "env", env)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("file cache: %w", err)
	}
	p, err := fsroot.Join(root, rel)
	if err != nil {
		return "", fmt.Errorf("file cache %s: %w", url, err)
	}
	if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, b) {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("file cache: %w", err)
	}
	if err := keys.WriteFileAtomic(p, b, 0o600); err != nil {
		return "", fmt.Errorf("file cache: %w", err)
	}
	return p, nil
}

// ListDirs lists the directories of the master's base file roots.
func (f *Files) ListDirs(ctx context.Context) ([]string, error) {
	rep, err := f.call(ctx, fileRequest{Op: opListDirs})
	if err != nil {
		return nil, err
	}
	return rep.List, nil
}

// ListFiles lists the master's files below prefix.
func (f *Files) ListFiles(ctx context.Context, prefix string) ([]string, error) {
	rep, err := f.call(ctx, fileRequest{Op: opListFiles, Prefix: prefix})
	if err != nil {
		return nil, err
	}
	return rep.List, nil
}

// request sends one request to the master and retries, with a growing
// jittered pause, while the master answers that it is busy (it bounds
// the file and pillar requests it serves at once), until ctx ends, and
// briefly while no master is subscribed (a master restarting). Any other error reply is returned as is.
func request(ctx context.Context, nc *nats.Conn, subject string, data []byte) (*nats.Msg, error) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		msg, err := nc.RequestWithContext(ctx, subject, data)
		// A master restarting is back within a second or so; a broker
		// with no file or pillar server at all must not stall every job.
		retry := errors.Is(err, nats.ErrNoResponders) && attempt < 4
		if err == nil && msg.Header.Get(proto.HeaderError) != "" {
			var e proto.ErrorReply
			_ = json.Unmarshal(msg.Data, &e)
			if e.Error != "master busy" {
				return nil, fmt.Errorf("master: %s", e.Error)
			}
			retry, err = true, errors.New("master busy")
		}
		if !retry {
			return msg, err
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}
