// Package fileserver is the master's `salt://` file server. Minions ask
// for files over NATS request/reply on their own request subject
// (brine.req.<tok>.file), so the broker already proves who is asking and
// the reply can only reach that minion's inbox. Every path is confined to
// the file roots with pkg/fsroot before anything is opened, and checked
// again on the opened descriptor, so `salt://../../etc/shadow`, absolute
// paths, encoded separators, NUL bytes and symlinks out of the roots are
// all refused. A minion first asks for a file's size and SHA-256 (stat)
// and fetches the content (read, in chunks below the message limit) only
// when its cache does not already hold that hash.
package fileserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/fsroot"
	"github.com/nats-io/nats.go"
)

// Operations a minion may ask for. They travel in Request.Op.
const (
	OpStat      = "stat"
	OpRead      = "read"
	OpListFiles = "list_files"
	OpListDirs  = "list_dirs"
)

// Version is the wire version of Request and Reply.
const Version = 1

// Request is one file-server call. URL is a salt:// URL (with an optional
// ?saltenv=); Offset and Length select a chunk for OpRead; Prefix filters
// OpListFiles.
type Request struct {
	V      int    `json:"v"`
	Op     string `json:"op"`
	URL    string `json:"url,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	Length int64  `json:"length,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Env    string `json:"saltenv,omitempty"`
}

// Reply answers a Request. For stat and read, Size and SHA256 describe the
// whole file as the master holds it now, so a minion assembling chunks
// notices when the file changed under it. EOF marks the last chunk.
type Reply struct {
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

// Auditor records refused requests; the master wires its audit log here.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry) error
}

// Config wires a Server.
type Config struct {
	// Roots are the base file roots, searched in order; Envs gives the
	// roots of other saltenvs (Salt's file_roots mapping).
	Roots []string
	Envs  map[string][]string
	// MaxBytes is the broker's message limit; chunks are sized so that a
	// reply (base64 in JSON) stays below it.
	MaxBytes int
	Log      *slog.Logger
	Audit    Auditor
}

// Counters are kept for monitoring and for tests that prove a cached
// file is not transferred again.
type Counters struct {
	Stats   atomic.Int64
	Reads   atomic.Int64 // read calls answered with content
	Bytes   atomic.Int64 // content bytes sent
	Refused atomic.Int64 // paths refused as outside the roots
	Lists   atomic.Int64
}

// Server answers file requests.
type Server struct {
	cfg   Config
	local *fileclient.Local
	log   *slog.Logger
	C     Counters

	mu     sync.Mutex
	hashes map[string]hashEntry // path -> hash while size, mtime and inode hold
}

type hashEntry struct {
	size  int64
	mtime time.Time
	ino   uint64
	sum   string
}

// New returns a Server over the configured roots.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	return &Server{cfg: cfg, local: &fileclient.Local{Roots: cfg.Roots, Envs: cfg.Envs},
		log: cfg.Log.With("component", "fileserver"), hashes: map[string]hashEntry{}}
}

// ChunkSize is the largest content a read reply carries: base64 grows
// data by 4/3 and the JSON around it is small, so half the message limit
// leaves ample room.
func (s *Server) ChunkSize() int64 { return int64(s.cfg.MaxBytes / 2) }

// Handle serves one request from the minion id (already authenticated by
// the broker and matched to the subject by the caller) and replies on
// m.Reply.
func (s *Server) Handle(ctx context.Context, id string, m *nats.Msg) {
	var req Request
	rep := Reply{V: Version}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = "malformed file request"
		s.respond(m, rep)
		return
	}
	rep = s.Serve(ctx, id, req)
	s.respond(m, rep)
}

// Serve answers req for minion id; it is Handle without the transport.
func (s *Server) Serve(ctx context.Context, id string, req Request) Reply {
	rep := Reply{V: Version}
	var err error
	switch req.Op {
	case OpStat:
		s.C.Stats.Add(1)
		err = s.stat(req, &rep)
	case OpRead:
		err = s.read(req, &rep)
		if err == nil {
			s.C.Reads.Add(1)
			s.C.Bytes.Add(int64(len(rep.Data)))
			s.log.Debug("file sent", "minion", id, "url", req.URL, "offset", req.Offset, "bytes", len(rep.Data))
		}
	case OpListFiles:
		s.C.Lists.Add(1)
		rep.List, err = s.local.ListFilesEnv(ctx, s.env(req), req.Prefix)
	case OpListDirs:
		s.C.Lists.Add(1)
		rep.List, err = s.local.ListDirsEnv(ctx, s.env(req))
	default:
		err = fmt.Errorf("unknown file operation %q", req.Op)
	}
	if err != nil {
		rep = Reply{V: Version, Error: err.Error()}
		switch {
		case errors.Is(err, fsroot.ErrOutside):
			rep.Refused = true
			s.C.Refused.Add(1)
			s.log.Warn("file request outside the file roots refused", "minion", id, "url", req.URL, "err", err)
			if s.cfg.Audit != nil {
				e := audit.Entry{Actor: "minion:" + id, Action: "file.refused", Target: req.URL, Outcome: "denied",
					Detail: map[string]any{"op": req.Op, "reason": err.Error()}}
				if aerr := s.cfg.Audit.Record(ctx, e); aerr != nil {
					s.log.Error("file refusal not audited", "minion", id, "err", aerr)
				}
			}
		case errors.Is(err, fileclient.ErrNotFound), errors.Is(err, os.ErrNotExist):
			rep.NotFound = true
		}
	}
	return rep
}

func (s *Server) env(req Request) string {
	if req.Env != "" {
		return req.Env
	}
	_, env, _ := fileclient.SplitURL(req.URL)
	return env
}

// open finds url in the roots and opens it, then proves that the file
// actually opened (after any symlink swap between the check and the
// open) still lies inside one of the roots.
func (s *Server) open(url string) (*os.File, os.FileInfo, error) {
	if strings.IndexByte(url, 0) >= 0 {
		return nil, nil, fmt.Errorf("%q: NUL byte in path: %w", url, fsroot.ErrOutside)
	}
	if strings.HasPrefix(strings.TrimPrefix(url, "salt://"), "/") {
		// salt:///etc/passwd names an absolute path: refused, not
		// quietly read as etc/passwd under a root.
		return nil, nil, fmt.Errorf("%q: absolute path: %w", url, fsroot.ErrOutside)
	}
	p, err := s.local.Find(url)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", url, err)
	}
	if err := s.confined(f, url); err != nil {
		f.Close()
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", url, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", url, fileclient.ErrNotFound)
	}
	return f, fi, nil
}

// confined checks the real path of an open descriptor against the real
// paths of the roots. Where /proc is not mounted it trusts fsroot.Join,
// which already resolved every symlink on the way.
func (s *Server) confined(f *os.File, url string) error {
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return nil
	}
	roots := append([]string{}, s.cfg.Roots...)
	for _, r := range s.cfg.Envs {
		roots = append(roots, r...)
	}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			continue
		}
		rr, err := filepath.EvalSymlinks(abs)
		if err != nil {
			continue
		}
		if strings.HasPrefix(real, rr+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("%q: opened file %s: %w", url, real, fsroot.ErrOutside)
}

func (s *Server) stat(req Request, rep *Reply) error {
	f, fi, err := s.open(req.URL)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := s.hash(f, fi)
	if err != nil {
		return err
	}
	rep.Size, rep.SHA256, rep.Mode = fi.Size(), sum, uint32(fi.Mode().Perm())
	return nil
}

func (s *Server) read(req Request, rep *Reply) error {
	if req.Offset < 0 || req.Length < 0 {
		return fmt.Errorf("%s: negative offset or length", req.URL)
	}
	f, fi, err := s.open(req.URL)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := s.hash(f, fi)
	if err != nil {
		return err
	}
	n := s.ChunkSize()
	if req.Length > 0 && req.Length < n {
		n = req.Length
	}
	if req.Offset > fi.Size() {
		return fmt.Errorf("%s: offset %d beyond the end (%d bytes)", req.URL, req.Offset, fi.Size())
	}
	if rest := fi.Size() - req.Offset; rest < n {
		n = rest
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, req.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", req.URL, err)
	}
	rep.Data = buf[:got]
	rep.Size, rep.SHA256, rep.Mode = fi.Size(), sum, uint32(fi.Mode().Perm())
	rep.EOF = req.Offset+int64(got) >= fi.Size()
	return nil
}

// hash returns the SHA-256 of an open file, remembered while the file's
// size, modification time and inode stay the same.
func (s *Server) hash(f *os.File, fi os.FileInfo) (string, error) {
	ino := inode(fi)
	key := f.Name()
	s.mu.Lock()
	e, ok := s.hashes[key]
	s.mu.Unlock()
	if ok && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) && e.ino == ino {
		return e.sum, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return "", fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	s.mu.Lock()
	if len(s.hashes) > 100000 {
		s.hashes = map[string]hashEntry{}
	}
	s.hashes[key] = hashEntry{size: fi.Size(), mtime: fi.ModTime(), ino: ino, sum: sum}
	s.mu.Unlock()
	return sum, nil
}

func (s *Server) respond(m *nats.Msg, rep Reply) {
	if m.Reply == "" {
		return
	}
	b, err := json.Marshal(rep)
	if err != nil {
		s.log.Error("encode file reply", "err", err)
		return
	}
	if err := m.Respond(b); err != nil {
		s.log.Debug("file reply not sent", "err", err)
	}
}
