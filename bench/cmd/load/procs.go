package main

// The processes the load run starts: the checkout example built from the
// workspace, the guide's pattern (this command re-executed), and for the
// many-instances scenario a redis-server. Each is stopped by its own pid.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// workspaceRoot is the directory of the go.work this command runs under:
// the repository root, where ./examples/checkout is.
func workspaceRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	gowork := strings.TrimSpace(string(out))
	if gowork == "" || gowork == "off" {
		return "", errors.New("not inside the fanfare-go workspace (no go.work): run from the repository")
	}
	return filepath.Dir(gowork), nil
}

// buildShop builds the checkout example into dir and returns the binary.
func buildShop(ctx context.Context, dir string) (string, error) {
	root, err := workspaceRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "shop")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/checkout")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/checkout: %v\n%s", err, out)
	}
	return bin, nil
}

// shopHasFlag reports whether the shop binary lists flag name in its -h.
func shopHasFlag(ctx context.Context, bin, name string) bool {
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	return regexp.MustCompile(`(?m)^\s*-` + regexp.QuoteMeta(name) + `\b`).Match(out)
}

// proc is a started server process.
type proc struct {
	name string
	cmd  *exec.Cmd
	URL  string // its base URL, on 127.0.0.1
	log  string // the file its output goes to
	done chan struct{}
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServer starts bin with args and env, its output in a file under dir,
// and waits for the line naming the URL it listens on, which must be a
// loopback URL.
func startServer(ctx context.Context, name, dir, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(logFile, stdout)
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	select {
	case u := <-found:
		if err := requireLoopback(u); err != nil {
			p.stop()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p.URL = strings.TrimSuffix(u, "/")
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening; its output:\n%s", name, tail(logPath))
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s did not say where it listens within 30s; its output:\n%s", name, tail(logPath))
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// requireLoopback refuses any URL whose host is not 127.0.0.1: the load run
// sends traffic to loopback only.
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		return fmt.Errorf("listens on %s, not 127.0.0.1", raw)
	}
	return nil
}

// stop asks the process to shut down (SIGINT), and kills it after 10 s.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times:
// 100 on every architecture Go supports.
const clockTicks = 100

// cpu is the CPU time (user and system) the process has used so far, read
// from /proc/PID/stat; false where there is no such file (not Linux).
func (p *proc) cpu() (time.Duration, bool) {
	if p == nil || p.cmd.Process == nil {
		return 0, false
	}
	return cpuOf(strconv.Itoa(p.cmd.Process.Pid))
}

// cpuOf reads the CPU time of process pid ("self" for this one).
func cpuOf(pid string) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses, so
	// count fields after the last ')'. utime and stime are fields 14 and
	// 15 of the line, 12th and 13th after the ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// fanfareEnv points a process at the emulator, as a user points the
// example at the real API.
func fanfareEnv(emu *fanfaretest.Server) []string {
	return []string{
		"FANFARE_API_URL=" + emu.URL,
		"FANFARE_ORG_ID=" + emu.OrganizationID,
		"FANFARE_SECRET_KEY=" + emu.SecretKey,
		"FANFARE_PUBLISHABLE_KEY=" + emu.PublishableKey,
	}
}

// startRedis starts redis-server on a free loopback port, without
// persistence, and returns its URL.
func startRedis(ctx context.Context, dir string) (*proc, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("redis-server not found")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, "", err
	}
	p := &proc{name: "redis", cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, "", fmt.Errorf("redis-server did not listen on %s; its output:\n%s", addr, tail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, "redis://" + addr + "/0", nil
}
