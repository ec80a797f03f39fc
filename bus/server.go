// Package bus connects mediawatch to NATS JetStream: it runs the embedded
// server when no external one is configured, opens the client connection
// with reconnect-forever semantics, declares the streams the flow relies on
// and publishes with retries until JetStream acknowledges.
package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configures the embedded NATS server.
type ServerOptions struct {
	// Listen is the client address, host:port. Port -1 picks a free port
	// (tests); port 0 uses the NATS default 4222.
	Listen string
	// StoreDir is where JetStream keeps its file store.
	StoreDir string
	// SyncInterval chooses when JetStream's file store fsyncs.
	//
	// Zero, the default, is sync always (nats-server's sync_interval
	// "always", Options.SyncAlways): every stored message is written and
	// fsynced before the publish is acknowledged, so an acknowledged alert
	// survives a crash of the process, a kernel crash and a power loss.
	//
	// A positive value is nats-server's own default policy (sync_interval,
	// two minutes when not set) with this period: each message is written
	// to the operating system before the acknowledgement, so a crash of
	// the process still loses nothing, but it is fsynced only every
	// SyncInterval, so a kernel crash or power loss can lose up to that
	// much acknowledged data.
	//
	// mediawatch keeps the default. The embedded server is a single copy
	// (replicas 1) with no other replica to recover from, and an
	// acknowledged alert is a promise: the match stage acknowledges the
	// mention on the strength of it and the mention is never redelivered.
	// The price is one fsync per stored message, server-wide (mentions,
	// feed state and alerts; a duplicate stores nothing), measured by
	// BenchmarkPublish in package alerts. A NATS cluster (replicas 3)
	// relies on its other copies instead and is configured on its own
	// servers.
	SyncInterval time.Duration
	Logger       *slog.Logger
}

// StartEmbedded starts an in-process NATS server with JetStream and waits
// until it accepts connections. Shut it down with Server.Shutdown and
// WaitForShutdown.
func StartEmbedded(opts ServerOptions) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: listen address %q: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: listen port %q: %w", portStr, err)
	}
	if err := os.MkdirAll(opts.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded nats: store dir: %w", err)
	}
	sopts := &server.Options{
		ServerName: "mediawatch",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		// Sync always unless a period is given; see SyncInterval.
		SyncAlways:   opts.SyncInterval <= 0,
		SyncInterval: max(opts.SyncInterval, 0),
		// The daemon owns signal handling and the shutdown order.
		NoSigs: true,
		// The HTTP monitoring port stays off: mediawatch exposes its own
		// metrics, and an extra listener is an extra thing to secure.
		HTTPPort: 0,
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ns.SetLoggerV2(&serverLogger{logger.With("component", "nats-server")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 15s (is " + opts.Listen + " already in use, or the store dir locked by another mediawatch?)")
	}
	return ns, nil
}

// serverLogger adapts nats-server's printf-style logger to slog. Notices are
// logged at debug level: the server is chatty at start-up and the daemon
// logs what matters itself.
type serverLogger struct{ l *slog.Logger }

func (s *serverLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Tracef(format string, v ...any)  {}
