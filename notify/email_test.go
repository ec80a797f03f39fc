package notify

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mediawatch/mediawatch/alerts"
)

// mailServer is a real SMTP server (github.com/emersion/go-smtp) on
// loopback that requires STARTTLS before AUTH and keeps what it receives.
type mailServer struct {
	host string
	port int
	// roots trust the server's certificate.
	roots *x509.CertPool

	mu    sync.Mutex
	conns map[*smtp.Conn]bool // connections that opened a session
	mails []receivedMail
	// rejectData answers the first rejectData DATA commands with this
	// error (a 451 to test retries).
	rejectData    int
	rejectWith    *smtp.SMTPError
	user, pass    string
	authMechanism string
}

type receivedMail struct {
	From     string
	To       []string
	Data     []byte
	User     string
	Mech     string
	TLS      bool
	Subject  string
	TextBody string // the body, quoted-printable decoded
}

type mailServerOptions struct {
	noTLS      bool
	rejectData int
	rejectWith *smtp.SMTPError
}

func newMailServer(t *testing.T, opts mailServerOptions) *mailServer {
	t.Helper()
	ms := &mailServer{user: "mediawatch", pass: "s3cret", rejectData: opts.rejectData, rejectWith: opts.rejectWith,
		conns: map[*smtp.Conn]bool{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ms.mu.Lock()
		ms.conns[c] = true
		ms.mu.Unlock()
		return &mailSession{server: ms, conn: c}, nil
	}))
	srv.Domain = "mail.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = testLogger{t}
	if !opts.noTLS {
		// httptest's certificate is valid for 127.0.0.1.
		ts := httptest.NewUnstartedServer(nil)
		ts.StartTLS()
		ms.roots = x509.NewCertPool()
		ms.roots.AddCert(ts.Certificate())
		srv.TLSConfig = &tls.Config{Certificates: ts.TLS.Certificates}
		ts.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	ms.host = "127.0.0.1"
	ms.port = ln.Addr().(*net.TCPAddr).Port
	return ms
}

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

func (ms *mailServer) received() []receivedMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]receivedMail(nil), ms.mails...)
}

// sessionCount is the number of connections, one per delivery attempt
// (go-smtp opens a new session on a connection after STARTTLS).
func (ms *mailServer) sessionCount() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return len(ms.conns)
}

// config is an e-mail receiver configuration for this server.
func (ms *mailServer) config(name string) ReceiverConfig {
	return ReceiverConfig{
		Name: name,
		Type: TypeEmail,
		SMTP: &SMTPConfig{Host: ms.host, Port: ms.port, Username: ms.user, PasswordEnv: "TEST_SMTP_PASSWORD",
			From: "mediawatch <mediawatch@umcutrecht.example>", StartTLS: true},
		To:    []string{"privacy@umcutrecht.example", "Comms Team <comms@umcutrecht.example>"},
		Retry: fastRetry(),
	}
}

// deps trusts the server's certificate and knows the password.
func (ms *mailServer) deps() Deps {
	return Deps{
		TLSConfig: &tls.Config{RootCAs: ms.roots, MinVersion: tls.VersionTLS12},
		LookupEnv: func(k string) (string, bool) {
			if k == "TEST_SMTP_PASSWORD" {
				return ms.pass, true
			}
			return "", false
		},
	}
}

type mailSession struct {
	server *mailServer
	conn   *smtp.Conn
	user   string
	mech   string
	from   string
	to     []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.server.user || pass != s.server.pass {
			return smtp.ErrAuthFailed
		}
		s.user, s.mech = user, mech
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ms := s.server
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.rejectData > 0 {
		ms.rejectData--
		return ms.rejectWith
	}
	_, isTLS := s.conn.TLSConnectionState()
	rm := receivedMail{From: s.from, To: s.to, Data: data, User: s.user, Mech: s.mech, TLS: isTLS}
	if msg, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		rm.Subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
		rm.TextBody = string(body)
	}
	ms.mails = append(ms.mails, rm)
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// has only as a client.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 { // initial response: the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(response))
	}
	return nil, false, errors.New("unexpected LOGIN step")
}

func TestEmailSTARTTLSAndAuth(t *testing.T) {
	for _, mech := range []string{"", "plain", "login"} {
		t.Run("auth="+mech, func(t *testing.T) {
			ms := newMailServer(t, mailServerOptions{})
			cfg := ms.config("privacy-mail")
			cfg.SMTP.Auth = mech
			r, reg := buildOne(t, cfg, ms.deps())
			if err := r.Send(t.Context(), testMessage()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			mails := ms.received()
			if len(mails) != 1 {
				t.Fatalf("%d mails, want 1", len(mails))
			}
			m := mails[0]
			wantMech := map[string]string{"": "PLAIN", "plain": "PLAIN", "login": "LOGIN"}[mech]
			if !m.TLS || m.User != "mediawatch" || m.Mech != wantMech {
				t.Errorf("TLS=%v user=%q mech=%q, want STARTTLS and %s auth", m.TLS, m.User, m.Mech, wantMech)
			}
			if m.From != "mediawatch@umcutrecht.example" || strings.Join(m.To, ",") != "privacy@umcutrecht.example,comms@umcutrecht.example" {
				t.Errorf("envelope from %q to %v", m.From, m.To)
			}
			if want := "[mediawatch] critical conduct, patient_data – umc-utrecht, uz-leuven (3 alerts)"; m.Subject != want {
				t.Errorf("subject = %q, want %q", m.Subject, want)
			}
			for _, h := range []string{"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable",
				"MIME-Version: 1.0", "Auto-Submitted: auto-generated", `To: <privacy@umcutrecht.example>, "Comms Team" <comms@umcutrecht.example>`} {
				if !bytes.Contains(m.Data, []byte(h+"\r\n")) {
					t.Errorf("header %q missing:\n%s", h, m.Data)
				}
			}
			golden(t, "email.txt", []byte(strings.ReplaceAll(m.TextBody, "\r\n", "\n")))
			if got := counter(t, reg, "mediawatch_notifications_sent_total", "privacy-mail", TypeEmail); got != 1 {
				t.Errorf("sent = %v", got)
			}
		})
	}
}

func TestEmailWrongPasswordIsPermanent(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{})
	deps := ms.deps()
	deps.LookupEnv = func(string) (string, bool) { return "wrong", true }
	r, reg := buildOne(t, ms.config("privacy-mail"), deps)
	err := r.Send(t.Context(), testMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), `receiver "privacy-mail"`) || !strings.Contains(err.Error(), "535") {
		t.Fatalf("err = %v, want a permanent 535 naming the receiver", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the password: %v", err)
	}
	if n := ms.sessionCount(); n != 1 {
		t.Errorf("%d sessions, want 1 (no retry)", n)
	}
	if got := counter(t, reg, "mediawatch_notifications_failed_total", "privacy-mail", TypeEmail); got != 1 {
		t.Errorf("failed = %v", got)
	}
}

func TestEmailTemporaryFailureRetried(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{rejectData: 1,
		rejectWith: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}})
	r, reg := buildOne(t, ms.config("privacy-mail"), ms.deps())
	if err := r.Send(t.Context(), testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := len(ms.received()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
	if got := counter(t, reg, "mediawatch_notification_retries_total", "privacy-mail", TypeEmail); got != 1 {
		t.Errorf("retries = %v, want 1", got)
	}
}

func TestEmailPermanentRejection(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{rejectData: 5,
		rejectWith: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected"}})
	r, _ := buildOne(t, ms.config("privacy-mail"), ms.deps())
	err := r.Send(t.Context(), testMessage())
	var pe *PermanentError
	if !errors.As(err, &pe) || pe.Status != 554 || pe.Receiver != "privacy-mail" {
		t.Fatalf("err = %v, want a permanent 554", err)
	}
	if n := ms.sessionCount(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

func TestEmailRequiresSTARTTLS(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{noTLS: true})
	cfg := ms.config("privacy-mail")
	cfg.SMTP.Host = "localhost" // no STARTTLS offered: refused before any password is sent
	r, _ := buildOne(t, cfg, ms.deps())
	err := r.Send(t.Context(), testMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmailUntrustedCertificate(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{})
	deps := ms.deps()
	deps.TLSConfig = nil // system roots: the test certificate is not trusted
	r, _ := buildOne(t, ms.config("privacy-mail"), deps)
	err := r.Send(t.Context(), testMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want a permanent certificate error", err)
	}
	if n := ms.sessionCount(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

func TestEmailServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := ReceiverConfig{Name: "m", Type: TypeEmail, To: []string{"a@example.org"}, Retry: fastRetry(),
		SMTP: &SMTPConfig{Host: "127.0.0.1", Port: port, From: "mw@example.org"}}
	r, reg := buildOne(t, cfg, Deps{})
	err = r.Send(t.Context(), testMessage())
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("err = %v, want a recoverable connection error", err)
	}
	if got := counter(t, reg, "mediawatch_notification_retries_total", "m", TypeEmail); got != 2 {
		t.Errorf("retries = %v, want 2", got)
	}
}

// TestEmailSubjectIsOneLine: a template cannot inject headers.
func TestEmailSubjectIsOneLine(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{})
	cfg := ms.config("privacy-mail")
	cfg.Subject = "alert\r\nBcc: evil@example.org\n{{.Count}}"
	r, _ := buildOne(t, cfg, ms.deps())
	if err := r.Send(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	m := ms.received()[0]
	if m.Subject != "alert Bcc: evil@example.org 3" || bytes.Contains(m.Data, []byte("\r\nBcc:")) {
		t.Errorf("subject %q; data:\n%s", m.Subject, m.Data)
	}
}

// TestEmailDigestFlushedAtShutdown: low and medium alerts wait for the
// digest, a critical one goes at once, and CloseAll delivers the rest as
// one mail.
func TestEmailDigestFlushedAtShutdown(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{})
	cfg := ms.config("privacy-digest")
	cfg.Digest = Duration(time.Hour)
	rs, err := Build([]ReceiverConfig{cfg}, ms.deps())
	if err != nil {
		t.Fatal(err)
	}
	r := rs["privacy-digest"]
	if _, ok := r.(*Digest); !ok {
		t.Fatalf("receiver is %T, want *Digest", r)
	}
	as := testAlerts()
	critical, medium := as[0], as[1]
	low := medium
	low.ID, low.Severity, low.Institution = "low-1", "low", "umc-utrecht"
	for _, m := range []Message{
		{Receiver: cfg.Name, GroupKey: "k1", Alerts: []alerts.Alert{medium}},
		{Receiver: cfg.Name, GroupKey: "k2", Alerts: []alerts.Alert{critical}},
		{Receiver: cfg.Name, GroupKey: "k3", Alerts: []alerts.Alert{low}, DashboardURL: "https://mediawatch.example"},
	} {
		if err := r.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if got := ms.received(); len(got) != 1 || !strings.Contains(got[0].Subject, "critical") {
		t.Fatalf("before shutdown: %d mails, want the critical one alone", len(got))
	}
	if err := CloseAll(t.Context(), rs); err != nil {
		t.Fatalf("CloseAll: %v", err)
	}
	got := ms.received()
	if len(got) != 2 {
		t.Fatalf("after shutdown: %d mails, want 2", len(got))
	}
	d := got[1]
	if want := "[mediawatch] medium conduct – umc-utrecht, uz-leuven (2 alerts)"; d.Subject != want {
		t.Errorf("digest subject = %q, want %q", d.Subject, want)
	}
	if !strings.Contains(d.TextBody, "[medium] uz-leuven / conduct") || !strings.Contains(d.TextBody, "[low] umc-utrecht / conduct") ||
		!strings.Contains(d.TextBody, "https://mediawatch.example/?alert=low-1") {
		t.Errorf("digest body:\n%s", d.TextBody)
	}
	// After Close a message goes through at once.
	if err := r.Send(t.Context(), Message{Receiver: cfg.Name, Alerts: []alerts.Alert{low}}); err != nil {
		t.Fatal(err)
	}
	if n := len(ms.received()); n != 3 {
		t.Errorf("%d mails after a send past Close, want 3", n)
	}
}
