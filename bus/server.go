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
	// SyncAlways makes JetStream fsync every write before it acknowledges,
	// so an acknowledged message survives a power loss as well as a crash of
	// the process. Off, the store is synced every two minutes by the server
	// and a process crash (not a power loss) still loses nothing.
	SyncAlways bool
	Logger     *slog.Logger
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
		SyncAlways: opts.SyncAlways,
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
