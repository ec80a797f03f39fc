package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/match"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// ReceiverConfig configures one receiver:
//
//	receivers:
//	  - name: comms-slack
//	    type: slack            # generic | slack | teams | mattermost | email
//	    url: https://hooks.slack.example/...
//	    template: "..."        # optional Go text/template for the message text
//	    timeout: 10s
//	  - name: privacy-mail
//	    type: email
//	    smtp: {host: smtp.example, port: 587, username: x, password_env: SMTP_PASSWORD, from: mediawatch@example, starttls: true}
//	    to: [privacy@example]
//	    digest: 1h             # 0 = immediate
type ReceiverConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// URL of the webhook (every type but email). It often carries a
	// token: it is never logged, only its scheme and host.
	URL string `yaml:"url"`
	// Template is the text of the message, a Go text/template executed on
	// TemplateData; empty means the default of the type.
	Template string `yaml:"template"`
	// Subject is the e-mail subject template; empty means the default.
	Subject string `yaml:"subject"`
	// Timeout bounds one delivery attempt (default 10s).
	Timeout Duration `yaml:"timeout"`
	// SMTP and To configure e-mail.
	SMTP *SMTPConfig `yaml:"smtp"`
	To   []string    `yaml:"to"`
	// Digest, when positive, collects the messages whose alerts are at most
	// DigestMaxSeverity (default medium) and sends them as one per Digest.
	Digest            Duration       `yaml:"digest"`
	DigestMaxSeverity match.Severity `yaml:"digest_max_severity"`
	Retry             RetryConfig    `yaml:"retry"`
}

// SMTPConfig is the mail server of an e-mail receiver.
type SMTPConfig struct {
	Host string `yaml:"host"`
	// Port defaults to 465 with tls, 587 otherwise.
	Port int `yaml:"port"`
	// Username enables authentication; the password is read from the
	// environment variable PasswordEnv when the receiver is built.
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	// Auth is the mechanism: plain or login; empty picks PLAIN when the
	// server offers it, else LOGIN.
	Auth string `yaml:"auth"`
	From string `yaml:"from"`
	// StartTLS upgrades the connection before authenticating and fails if
	// the server does not offer it; TLS connects with TLS from the start
	// (port 465).
	StartTLS bool `yaml:"starttls"`
	TLS      bool `yaml:"tls"`
	// Hello is the name sent with EHLO (default "localhost").
	Hello string `yaml:"hello"`
}

// RetryConfig overrides the default retry policy of a receiver.
type RetryConfig struct {
	MaxAttempts    int      `yaml:"max_attempts"`
	InitialBackoff Duration `yaml:"initial_backoff"`
	MaxBackoff     Duration `yaml:"max_backoff"`
	MaxElapsed     Duration `yaml:"max_elapsed"`
	MaxRetryAfter  Duration `yaml:"max_retry_after"`
}

func (c RetryConfig) policy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:    c.MaxAttempts,
		InitialBackoff: c.InitialBackoff.D(),
		MaxBackoff:     c.MaxBackoff.D(),
		MaxElapsed:     c.MaxElapsed.D(),
		MaxRetryAfter:  c.MaxRetryAfter.D(),
	}.withDefaults()
}

// Duration is a time.Duration written in YAML as a Go duration string
// ("10s", "1h", "0").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 10s or 1h", n.Line)
	}
	return d.UnmarshalText([]byte(n.Value))
}

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a value such as 10s, 5m or 1h", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d the way UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Deps are what Build wires into the receivers.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// HTTPClient posts the webhooks (default: a client of its own). Per
	// attempt timeouts come from the configuration, not from the client.
	HTTPClient *http.Client
	// TLSConfig is the base TLS configuration for SMTP (root CAs, minimum
	// version); the server name is set per receiver. Default: the system
	// roots, TLS 1.2 at least.
	TLSConfig *tls.Config
	// Context bounds the digests' background work: when it ends they
	// deliver what they hold and stop. Default: they run until CloseAll.
	Context context.Context
	// Publish stores the messages of receivers of type nats; Build fails
	// for such a receiver without it.
	Publish Publish
	// LookupEnv reads the passwords (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
}

const defaultTimeout = 10 * time.Second

// Validate checks one receiver's configuration without building it; every
// problem is returned, joined, each naming the receiver.
func (c ReceiverConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("receiver %q: "+format, append([]any{c.Name}, args...)...))
	}
	if strings.TrimSpace(c.Name) == "" {
		bad("name is required")
	}
	if !slices.Contains(Types(), c.Type) {
		bad("unknown type %q (want one of %s)", c.Type, strings.Join(Types(), ", "))
	}
	if c.Timeout < 0 {
		bad("timeout must not be negative")
	}
	if c.Digest < 0 {
		bad("digest must not be negative (0 sends at once)")
	}
	if c.DigestMaxSeverity != "" && !c.DigestMaxSeverity.Valid() {
		bad("unknown digest_max_severity %q", c.DigestMaxSeverity)
	}
	if c.Retry.MaxAttempts < 0 || c.Retry.InitialBackoff < 0 || c.Retry.MaxBackoff < 0 || c.Retry.MaxElapsed < 0 || c.Retry.MaxRetryAfter < 0 {
		bad("retry settings must not be negative")
	}
	if c.Type == TypeNATS {
		if !validSubjectToken(c.Name) {
			bad("a receiver of type nats needs a name of letters, digits, - and _ (it ends the subject)")
		}
		if c.URL != "" {
			bad("a receiver of type nats takes no url: it publishes on %s<name>", SubjectPrefix)
		}
	} else if c.Type == TypeEmail {
		errs = append(errs, c.validateEmail()...)
	} else if c.Type != "" && slices.Contains(Types(), c.Type) {
		if c.URL == "" {
			bad("url is required for type %s", c.Type)
		} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL itself stays out of the message: it may hold a token.
			bad("url must be an absolute http or https URL")
		}
		if c.SMTP != nil || len(c.To) > 0 || c.Subject != "" {
			bad("smtp, to and subject are for type email only")
		}
	}
	if slices.Contains(Types(), c.Type) {
		if _, err := newRenderer(c.Name, c.Type, c.Template, 0); err != nil {
			bad("template: %v", err)
		}
		if c.Type == TypeEmail {
			if _, err := newRenderer(c.Name+" subject", TypeEmail, c.subjectTemplate(), 0); err != nil {
				bad("subject: %v", err)
			}
		}
	}
	return errors.Join(errs...)
}

func (c ReceiverConfig) subjectTemplate() string {
	if c.Subject == "" {
		return defaultSubjectTemplate
	}
	return c.Subject
}

func (c ReceiverConfig) validateEmail() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("receiver %q: "+format, append([]any{c.Name}, args...)...))
	}
	if c.URL != "" {
		bad("url is not used by type email; configure smtp")
	}
	if len(c.To) == 0 {
		bad("to: at least one address is required")
	}
	for _, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad("to: bad address %q: %v", to, err)
		}
	}
	s := c.SMTP
	if s == nil {
		bad("smtp is required for type email")
		return errs
	}
	if s.Host == "" {
		bad("smtp.host is required")
	}
	if s.Port < 0 || s.Port > 65535 {
		bad("smtp.port %d is out of range", s.Port)
	}
	if s.From == "" {
		bad("smtp.from is required")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		bad("smtp.from: bad address %q: %v", s.From, err)
	}
	if s.StartTLS && s.TLS {
		bad("smtp: starttls and tls exclude each other")
	}
	switch strings.ToLower(s.Auth) {
	case "", "plain", "login":
	default:
		bad("smtp.auth %q: want plain or login", s.Auth)
	}
	if s.Username == "" && s.PasswordEnv != "" {
		bad("smtp.password_env without smtp.username")
	}
	if s.Username != "" && s.PasswordEnv == "" {
		bad("smtp.username needs smtp.password_env, the environment variable holding the password")
	}
	return errs
}

// Build checks every receiver configuration and builds the receivers, keyed
// by name. All problems are reported at once, joined, each naming its
// receiver; on any problem no receiver is returned. A receiver with a digest
// is a *Digest wrapping the receiver of its type: call CloseAll at shutdown.
func Build(cfgs []ReceiverConfig, deps Deps) (map[string]Receiver, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{}
	}
	if deps.LookupEnv == nil {
		deps.LookupEnv = os.LookupEnv
	}
	if deps.Context == nil {
		deps.Context = context.Background()
	}
	var errs []error
	seen := map[string]bool{}
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.Name != "" && seen[c.Name] {
			errs = append(errs, fmt.Errorf("receiver %q: name used twice", c.Name))
		}
		seen[c.Name] = true
		if c.Type == TypeEmail && c.SMTP != nil && c.SMTP.PasswordEnv != "" {
			if v, ok := deps.LookupEnv(c.SMTP.PasswordEnv); !ok || v == "" {
				errs = append(errs, fmt.Errorf("receiver %q: environment variable %s (smtp.password_env) is not set", c.Name, c.SMTP.PasswordEnv))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	metrics, err := NewMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Receiver, len(cfgs))
	for _, c := range cfgs {
		r, err := build(c, deps, metrics)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		metrics.preCreate(c.Name, c.Type)
		if c.Digest > 0 {
			d, err := NewDigest(deps.Context, r, DigestOptions{
				Interval:    c.Digest.D(),
				MaxSeverity: c.DigestMaxSeverity,
				Logger:      deps.Logger,
			})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r = d
		}
		out[c.Name] = r
	}
	if len(errs) > 0 {
		_ = CloseAll(context.Background(), out)
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// build builds the receiver of one valid configuration.
func build(c ReceiverConfig, deps Deps, metrics *Metrics) (Receiver, error) {
	timeout := c.Timeout.D()
	if timeout == 0 {
		timeout = defaultTimeout
	}
	s := sender{
		name:    c.Name,
		typ:     c.Type,
		policy:  c.Retry.policy(),
		metrics: metrics,
		logger:  deps.Logger,
	}
	switch c.Type {
	case TypeEmail:
		return buildEmail(c, deps, s, timeout)
	case TypeNATS:
		if deps.Publish == nil {
			return nil, fmt.Errorf("receiver %q: type nats needs a NATS connection", c.Name)
		}
		r, err := newRenderer(c.Name, TypeGeneric, c.Template, 0)
		if err != nil {
			return nil, fmt.Errorf("receiver %q: template: %w", c.Name, err)
		}
		return &natsReceiver{sender: s, subject: SubjectPrefix + c.Name, render: r, publish: deps.Publish}, nil
	}
	maxRunes := map[string]int{TypeSlack: slackMaxText, TypeTeams: teamsMaxText, TypeMattermost: mattermostMaxText}[c.Type]
	r, err := newRenderer(c.Name, c.Type, c.Template, maxRunes)
	if err != nil {
		return nil, fmt.Errorf("receiver %q: template: %w", c.Name, err)
	}
	w := &webhook{
		sender:  s,
		url:     c.URL,
		origin:  origin(c.URL),
		client:  deps.HTTPClient,
		timeout: timeout,
		render:  r,
	}
	switch c.Type {
	case TypeGeneric:
		w.encode = encodeGeneric
	case TypeSlack:
		w.encode = encodeSlack
	case TypeTeams:
		w.encode = encodeTeams
	case TypeMattermost:
		w.encode = encodeMattermost
	}
	return w, nil
}

func buildEmail(c ReceiverConfig, deps Deps, s sender, timeout time.Duration) (Receiver, error) {
	sc := c.SMTP
	body, err := newRenderer(c.Name, TypeEmail, c.Template, 0)
	if err != nil {
		return nil, fmt.Errorf("receiver %q: template: %w", c.Name, err)
	}
	subject, err := newRenderer(c.Name+" subject", TypeEmail, c.subjectTemplate(), 250)
	if err != nil {
		return nil, fmt.Errorf("receiver %q: subject: %w", c.Name, err)
	}
	from, err := mail.ParseAddress(sc.From)
	if err != nil {
		return nil, fmt.Errorf("receiver %q: smtp.from: %w", c.Name, err)
	}
	e := &email{
		sender:   s,
		host:     sc.Host,
		port:     sc.Port,
		implicit: sc.TLS,
		starttls: sc.StartTLS,
		hello:    sc.Hello,
		auth:     strings.ToLower(sc.Auth),
		username: sc.Username,
		from:     from,
		timeout:  timeout,
		subject:  subject,
		body:     body,
	}
	if e.port == 0 {
		e.port = 587
		if sc.TLS {
			e.port = 465
		}
	}
	if sc.PasswordEnv != "" {
		e.password, _ = deps.LookupEnv(sc.PasswordEnv)
	}
	for _, to := range c.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return nil, fmt.Errorf("receiver %q: to: %w", c.Name, err)
		}
		e.to = append(e.to, a)
	}
	if deps.TLSConfig != nil {
		e.tls = deps.TLSConfig.Clone()
	} else {
		e.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	e.tls.ServerName = sc.Host
	return e, nil
}
