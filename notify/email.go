package notify

// E-mail goes out through the standard library's net/smtp: it speaks
// ESMTP with STARTTLS and PLAIN auth, and takes any other mechanism as an
// smtp.Auth, so LOGIN is the small loginAuth below. Dialling, implicit TLS
// and deadlines are done here so that a context bounds every step.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// email sends each message as one text/plain mail.
type email struct {
	sender
	host     string
	port     int
	implicit bool // TLS from the first byte (port 465)
	starttls bool
	hello    string
	auth     string // "", "plain" or "login"
	username string
	password string
	from     *mail.Address
	to       []*mail.Address
	tls      *tls.Config
	timeout  time.Duration
	subject  *renderer
	body     *renderer
}

func (e *email) Name() string { return e.name }

// Send renders m and delivers it, retrying recoverable failures.
func (e *email) Send(ctx context.Context, m Message) error {
	msg, perr := e.compose(m, time.Now())
	return e.run(ctx, func(ctx context.Context) error {
		if perr != nil {
			return perr
		}
		return e.deliver(ctx, msg)
	})
}

// compose builds the whole mail: headers and a quoted-printable body.
func (e *email) compose(m Message, now time.Time) ([]byte, error) {
	subject, err := e.subject.render(m)
	if err != nil {
		return nil, e.permanent(0, fmt.Errorf("render subject: %w", err))
	}
	// A subject is one line, whatever its template wrote.
	subject = strings.Join(strings.Fields(subject), " ")
	body, err := e.body.render(m)
	if err != nil {
		return nil, e.permanent(0, fmt.Errorf("render body: %w", err))
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", e.from.String())
	to := make([]string, len(e.to))
	for i, a := range e.to {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", now.Format(time.RFC1123Z))
	domain := e.from.Address[strings.LastIndexByte(e.from.Address, '@')+1:]
	header("Message-ID", "<"+rand.Text()+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n") + "\r\n")); err != nil {
		return nil, e.permanent(0, err)
	}
	if err := qp.Close(); err != nil {
		return nil, e.permanent(0, err)
	}
	return b.Bytes(), nil
}

// deliver makes one attempt: connect, STARTTLS, authenticate, send.
func (e *email) deliver(ctx context.Context, msg []byte) (err error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	addr := net.JoinHostPort(e.host, strconv.Itoa(e.port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	// The deadline bounds every read and write; ending ctx ends them at once.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if e.implicit {
		tc := tls.Client(conn, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return e.classify(addr, "TLS handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		conn.Close()
		return e.classify(addr, "greeting", err)
	}
	defer c.Close()
	if e.hello != "" {
		if err := c.Hello(e.hello); err != nil {
			return e.classify(addr, "EHLO", err)
		}
	}
	if e.starttls && !e.implicit {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return e.permanent(0, fmt.Errorf("smtp %s: server does not offer STARTTLS", addr))
		}
		if err := c.StartTLS(e.tls); err != nil {
			return e.classify(addr, "STARTTLS", err)
		}
	}
	if e.username != "" {
		a, err := e.authFor(c)
		if err != nil {
			return e.permanent(0, fmt.Errorf("smtp %s: %w", addr, err))
		}
		if err := c.Auth(a); err != nil {
			return e.classify(addr, "AUTH", err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return e.classify(addr, "MAIL FROM", err)
	}
	for _, to := range e.to {
		if err := c.Rcpt(to.Address); err != nil {
			return e.classify(addr, "RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return e.classify(addr, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return e.classify(addr, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return e.classify(addr, "DATA", err)
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// authFor picks the configured mechanism, or PLAIN if the server offers
// it and LOGIN otherwise.
func (e *email) authFor(c *smtp.Client) (smtp.Auth, error) {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("server offers no authentication (AUTH); is STARTTLS needed?")
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	mech := strings.ToUpper(e.auth)
	if mech == "" {
		mech = "LOGIN"
		for _, m := range offered {
			if m == "PLAIN" {
				mech = "PLAIN"
			}
		}
	}
	found := false
	for _, m := range offered {
		found = found || m == mech
	}
	if !found {
		return nil, fmt.Errorf("server does not offer AUTH %s (it offers %s)", mech, mechs)
	}
	if mech == "PLAIN" {
		// PlainAuth refuses to send the password over an unencrypted
		// connection to anything but localhost.
		return smtp.PlainAuth("", e.username, e.password, e.host), nil
	}
	return &loginAuth{username: e.username, password: e.password, host: e.host}, nil
}

// classify wraps an SMTP failure: 5xx replies and certificate errors are
// permanent, 4xx replies and connection failures are retried.
func (e *email) classify(addr, step string, err error) error {
	wrapped := fmt.Errorf("smtp %s: %s: %w", addr, step, err)
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 500 {
			return e.permanent(te.Code, wrapped)
		}
		return wrapped
	}
	if isCertificateError(err) || strings.Contains(err.Error(), "unencrypted connection") {
		return e.permanent(0, wrapped)
	}
	return wrapped
}

// loginAuth is the LOGIN mechanism (draft-murchison-sasl-login): the
// server asks for the user name, then for the password. Like PlainAuth it
// refuses to send them unencrypted except to localhost.
type loginAuth struct {
	username, password, host string
	step                     int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLocalhost(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	prompt := strings.ToLower(strings.TrimSpace(string(fromServer)))
	switch {
	case strings.HasPrefix(prompt, "user") || (a.step == 1 && !strings.HasPrefix(prompt, "pass")):
		return []byte(a.username), nil
	case strings.HasPrefix(prompt, "pass") || a.step == 2:
		return []byte(a.password), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", truncateRunes(prompt, 40))
}

func isLocalhost(name string) bool {
	return name == "localhost" || name == "127.0.0.1" || name == "::1"
}
