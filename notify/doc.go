// Package notify delivers groups of alerts to the communications team:
// webhooks (a generic JSON webhook, Slack, Microsoft Teams and Mattermost
// incoming webhooks) and e-mail over SMTP, optionally batched into digests.
//
// A Receiver gets a Message: the alerts of one group, already redacted by
// the alerts package. Receivers copy only what an Alert carries (the masked
// snippet, category, rules, links) and never the original post text.
//
// Every receiver retries recoverable failures (HTTP 5xx and 429, timeouts,
// connection errors, SMTP 4xx replies) with exponential backoff and jitter,
// within a bounded number of attempts and a bounded total time; any other
// failure is returned at once as a *PermanentError. Deliveries, failures,
// retries and durations are counted per receiver on an injected
// prometheus.Registerer.
//
// Receivers are built from configuration with Build, which checks every
// receiver and reports all the bad ones at once. Receivers that hold
// background work (a Digest) implement Closer; Close flushes them.
package notify
