package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the delivery attempts of one message. Zero fields take
// the defaults of DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure; it doubles after
	// every further failure up to MaxBackoff. Each wait is drawn at random
	// between half of it and all of it (jitter), so receivers that failed
	// together do not retry together.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxElapsed bounds the whole delivery, waits and attempts included.
	MaxElapsed time.Duration
	// MaxRetryAfter caps the wait a server asks for with Retry-After.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy is the policy of a receiver that configures none.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:    5,
		InitialBackoff: time.Second,
		MaxBackoff:     30 * time.Second,
		MaxElapsed:     2 * time.Minute,
		MaxRetryAfter:  time.Minute,
	}
}

// withDefaults fills the zero fields of p from DefaultRetryPolicy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = d.InitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(d.MaxBackoff, p.InitialBackoff)
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	return p
}

// backoff returns the wait after the given failed attempt (1-based), with
// jitter: a random duration in [b/2, b] where b doubles from InitialBackoff
// up to MaxBackoff.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	b := p.InitialBackoff
	for i := 1; i < attempt && b < p.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, p.MaxBackoff)
	half := b / 2
	return half + rand.N(b-half+1)
}

// PermanentError is a delivery failure that retrying cannot fix: a 4xx
// answer other than 429 from a webhook, a 5xx reply from an SMTP server, a
// bad certificate, a template that fails on a message.
type PermanentError struct {
	Receiver string
	// Status is the HTTP status or SMTP reply code; 0 when there was none.
	Status int
	Err    error
}

func (e *PermanentError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("receiver %q: permanent failure: status %d: %v", e.Receiver, e.Status, e.Err)
	}
	return fmt.Sprintf("receiver %q: permanent failure: %v", e.Receiver, e.Err)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is, or wraps, a *PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// retryableError is a failure worth another attempt; after is the wait the
// server asked for (0: use the backoff).
type retryableError struct {
	err   error
	after time.Duration
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// sender runs the attempts of one receiver with retries, logs and metrics.
type sender struct {
	name, typ string
	policy    RetryPolicy
	metrics   *Metrics
	logger    *slog.Logger
}

// run calls attempt until it succeeds, fails permanently, the attempts or
// the time of the policy run out, or ctx ends. attempt gets a context that
// ends with the policy's total time. attempt returns a *PermanentError for
// failures not worth retrying, a *retryableError to pass a Retry-After;
// every other error is retried.
func (s *sender) run(ctx context.Context, attempt func(context.Context) error) error {
	start := time.Now()
	deadline := start.Add(s.policy.MaxElapsed)
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	labels := []string{s.name, s.typ}
	defer func() {
		s.metrics.duration.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
	}()

	var err error
	for n := 1; ; n++ {
		err = attempt(actx)
		if err == nil {
			s.metrics.sent.WithLabelValues(labels...).Inc()
			return nil
		}
		if IsPermanent(err) || actx.Err() != nil {
			break
		}
		if n >= s.policy.MaxAttempts {
			err = fmt.Errorf("giving up after %d attempts: %w", n, err)
			break
		}
		wait := s.policy.backoff(n)
		var re *retryableError
		if errors.As(err, &re) && re.after > 0 {
			wait = min(re.after, s.policy.MaxRetryAfter)
		}
		if time.Now().Add(wait).After(deadline) {
			err = fmt.Errorf("giving up after %d attempts in %s: %w", n, time.Since(start).Round(time.Millisecond), err)
			break
		}
		s.metrics.retries.WithLabelValues(labels...).Inc()
		s.logger.Warn("notification failed, retrying", "receiver", s.name, "type", s.typ,
			"attempt", n, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-actx.Done():
			t.Stop()
		}
		if actx.Err() != nil {
			break
		}
	}
	s.metrics.failed.WithLabelValues(labels...).Inc()
	if IsPermanent(err) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (last error: %w)", cerr, err)
	} else if actx.Err() != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("giving up after %s: %w", s.policy.MaxElapsed, err)
	}
	return fmt.Errorf("receiver %q (%s): %w", s.name, s.typ, err)
}

// permanent wraps err as a *PermanentError of the sender's receiver.
func (s *sender) permanent(status int, err error) error {
	return &PermanentError{Receiver: s.name, Status: status, Err: err}
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date. It
// returns 0 when the header is absent or unusable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// isCertificateError reports whether err is a TLS certificate failure,
// which no retry fixes.
func isCertificateError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
