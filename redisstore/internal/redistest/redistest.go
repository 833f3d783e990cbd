// Package redistest starts real redis-server processes for tests: one on a
// unix socket, or a three-node Cluster on loopback ports. Each is torn down
// when its test ends. A test is skipped, saying why, only when redis-server
// is not installed.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// binary returns the path of redis-server or skips the test.
func binary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found in PATH: install it (apt-get install redis-server) to run the Redis tests")
	}
	return path
}

// Server is one redis-server listening on a unix socket.
type Server struct {
	// Socket is the path of the unix socket.
	Socket string
	// Dir is the server's working directory: its append-only file lives
	// there, across Restart.
	Dir string

	t    testing.TB
	bin  string
	args []string
	cmd  *exec.Cmd
	log  *os.File
}

// Start starts a redis-server on a unix socket under a fresh short
// directory (/tmp/rs-…: a socket path must fit in about 100 bytes), with
// extra arguments appended to its command line (say "--appendonly", "yes").
// It stops the server and removes the directory when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin := binary(t)
	dir, err := os.MkdirTemp("/tmp", "rs-")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s := &Server{Socket: filepath.Join(dir, "s"), Dir: dir, t: t, bin: bin}
	s.args = append([]string{
		"--port", "0",
		"--unixsocket", s.Socket,
		"--unixsocketperm", "700",
		"--dir", dir,
		"--save", "",
		"--daemonize", "no",
	}, extra...)
	t.Cleanup(func() {
		s.Kill()
		_ = os.RemoveAll(dir)
	})
	s.start()
	return s
}

func (s *Server) start() {
	s.t.Helper()
	var err error
	if s.log, err = os.OpenFile(filepath.Join(s.Dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: starting redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket, MaxRetries: -1})
	defer c.Close()
	waitFor(s.t, s.logTail, func(ctx context.Context) error { return c.Ping(ctx).Err() })
}

// logTail returns the end of the server's log, for failure messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	return s.ClientWith(t, &redis.Options{})
}

// ClientWith returns a client of the server with opts (Network and Addr
// are set here), closed when the test ends.
func (s *Server) ClientWith(t testing.TB, opts *redis.Options) *redis.Client {
	t.Helper()
	o := *opts
	o.Network, o.Addr = "unix", s.Socket
	c := redis.NewClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill stops the server at once (SIGKILL), as a crash would: what it
// acknowledged is on disk only as far as its appendfsync setting put it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	_ = s.log.Close()
	s.cmd = nil
	_ = os.Remove(s.Socket)
}

// Restart starts the server again, on the same socket and directory, after
// Kill.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Cluster is a Redis Cluster of three masters on loopback ports, with the
// 16384 slots split evenly between them.
type Cluster struct {
	// Addrs are the nodes' host:port addresses.
	Addrs []string
}

// StartCluster starts a three-node Cluster, assigns the slots, joins the
// nodes and waits until every node reports cluster_state:ok. It stops the
// nodes when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := binary(t)
	dir, err := os.MkdirTemp("/tmp", "rc-")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ports := freePorts(t, 3)
	cl := &Cluster{}
	nodes := make([]*redis.Client, len(ports))
	for i, port := range ports {
		p := strconv.Itoa(port)
		nodeDir := filepath.Join(dir, p)
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := &Server{Dir: nodeDir, t: t, bin: bin, args: []string{
			"--port", p,
			"--bind", "127.0.0.1",
			"--dir", nodeDir,
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(nodeDir, "nodes.conf"),
			"--cluster-node-timeout", "2000",
		}}
		addr := net.JoinHostPort("127.0.0.1", p)
		t.Cleanup(s.Kill)
		var err error
		if s.log, err = os.OpenFile(filepath.Join(nodeDir, "log"), os.O_CREATE|os.O_WRONLY, 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.cmd = exec.Command(bin, s.args...)
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("redistest: starting redis-server: %v", err)
		}
		nodes[i] = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer nodes[i].Close()
		waitFor(t, s.logTail, func(ctx context.Context) error { return nodes[i].Ping(ctx).Err() })
		cl.Addrs = append(cl.Addrs, addr)
	}
	ctx := context.Background()
	const slots = 16384
	for i, n := range nodes {
		lo, hi := i*slots/len(nodes), (i+1)*slots/len(nodes)-1
		if err := n.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE %d %d: %v", lo, hi, err)
		}
	}
	for _, port := range ports[1:] {
		if err := nodes[0].ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(port)).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER MEET: %v", err)
		}
	}
	for _, n := range nodes {
		waitFor(t, func() string { return n.ClusterInfo(ctx).Val() }, func(ctx context.Context) error {
			info, err := n.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return fmt.Errorf("cluster not ready")
			}
			return nil
		})
	}
	return cl
}

// Client returns a Cluster client of the nodes, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// freePorts finds n loopback ports that are free, each with its cluster
// bus port (port+10000) free too.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for tries := 0; len(ports) < n && tries < 200; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		ports = append(ports, port)
	}
	if len(ports) < n {
		t.Fatalf("redistest: found %d free port pairs, want %d", len(ports), n)
	}
	return ports
}

// waitFor retries ready for up to 10 seconds.
func waitFor(t testing.TB, log func() string, ready func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: redis not ready after 10s: %v\n%s", err, log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Info returns one field of INFO section from a server, for tests that
// count commands.
func Info(ctx context.Context, c redis.UniversalClient, section, field string) string {
	sc := bufio.NewScanner(strings.NewReader(c.Info(ctx, section).Val()))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return v
		}
	}
	return ""
}
