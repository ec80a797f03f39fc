// Package triage is the lifecycle of an alert once the communications team
// has it: new → acknowledged → assigned → resolved or false_positive, with
// escalated (to the press office or the privacy officer) on the way. Every
// change is an event with who, when and an optional note.
//
// The events are the state: they are kept on JetStream, one subject per
// alert (mediawatch.triage.<alert-id>), and every process that shows alerts
// replays them into the same view. A change is published with the sequence
// of the last event its author saw for that alert, so two dashboard
// replicas acting on the same alert at once cannot both win: the second is
// told the alert moved on and sees its new state.
//
// This file is the pure part: statuses, actions and the transitions
// between them. store.go keeps the events on JetStream.
package triage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Statuses of an alert. StatusNew is where every alert starts.
const (
	StatusNew           = "new"
	StatusAcknowledged  = "acknowledged"
	StatusAssigned      = "assigned"
	StatusEscalated     = "escalated"
	StatusResolved      = "resolved"
	StatusFalsePositive = "false_positive"
)

// Statuses lists every status in lifecycle order.
var Statuses = []string{StatusNew, StatusAcknowledged, StatusAssigned, StatusEscalated, StatusResolved, StatusFalsePositive}

// Actions, as the HTTP API names them (POST /api/alerts/{id}/<action>).
const (
	ActionAck           = "ack"
	ActionAssign        = "assign"
	ActionEscalate      = "escalate"
	ActionResolve       = "resolve"
	ActionFalsePositive = "false-positive"
)

// Actions lists every action.
var Actions = []string{ActionAck, ActionAssign, ActionEscalate, ActionResolve, ActionFalsePositive}

// Escalation targets: the two contacts the guidelines name besides the
// communications team.
const (
	EscalatePress   = "press"
	EscalatePrivacy = "privacy"
)

// MaxNote bounds a note, so that one event stays a small message.
const MaxNote = 2000

// Errors a request can fail with; the API maps them to HTTP statuses.
var (
	// ErrUnknownAction: not one of Actions.
	ErrUnknownAction = errors.New("unknown action")
	// ErrInvalid: the request lacks what the action needs (an assignee,
	// an escalation target, an actor) or has too long a note.
	ErrInvalid = errors.New("invalid request")
	// ErrTransition: the action does not apply to the alert's status
	// (acknowledging an alert that is already resolved).
	ErrTransition = errors.New("action not allowed in this status")
	// ErrConflict: the alert changed while the request was being made and
	// kept changing; the caller should look at it again.
	ErrConflict = errors.New("alert changed concurrently")
)

// Request is one triage action as a user asks for it.
type Request struct {
	Action string
	// Actor is who asks: the authenticated user, never taken from the
	// request body.
	Actor string
	Note  string
	// Assignee is required by ActionAssign.
	Assignee string
	// To is required by ActionEscalate: EscalatePress or EscalatePrivacy.
	To string
}

// Event is one change of an alert's triage state, as stored on the stream.
// The JSON field names are a contract with subscribers outside mediawatch.
type Event struct {
	// ID is unique per event; it is the Nats-Msg-Id, so a publish retried
	// after a lost acknowledgement is stored once.
	ID      string    `json:"id"`
	AlertID string    `json:"alert_id"`
	Action  string    `json:"action"`
	Status  string    `json:"status"` // the status the action leads to
	Actor   string    `json:"actor"`
	At      time.Time `json:"at"`
	Note    string    `json:"note,omitempty"`
	// Assignee is set by assign; EscalatedTo by escalate.
	Assignee    string `json:"assignee,omitempty"`
	EscalatedTo string `json:"escalated_to,omitempty"`
}

// State is an alert's triage state: the fold of its events.
type State struct {
	AlertID     string    `json:"alert_id"`
	Status      string    `json:"status"`
	Assignee    string    `json:"assignee,omitempty"`
	EscalatedTo string    `json:"escalated_to,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
	History     []Event   `json:"history"`
	// Seq is the stream sequence of the last event applied, 0 for none: the
	// sequence a new event must expect (see Store.Do).
	Seq uint64 `json:"-"`
}

// NewState is the state of an alert nobody has touched.
func NewState(alertID string) State {
	return State{AlertID: alertID, Status: StatusNew, History: []Event{}}
}

// Closed reports whether the alert is done with: resolved or a false
// positive. A closed alert takes no more actions.
func (s State) Closed() bool {
	return s.Status == StatusResolved || s.Status == StatusFalsePositive
}

// transition returns the statuses an action may start from and the status
// it leads to. Assign and escalate may repeat (reassigning, escalating to
// the other contact); acknowledging only makes sense once; a closed alert
// takes no action.
func transition(action string) (from []string, to string, ok bool) {
	open := []string{StatusNew, StatusAcknowledged, StatusAssigned, StatusEscalated}
	switch action {
	case ActionAck:
		return []string{StatusNew}, StatusAcknowledged, true
	case ActionAssign:
		return open, StatusAssigned, true
	case ActionEscalate:
		return open, StatusEscalated, true
	case ActionResolve:
		return open, StatusResolved, true
	case ActionFalsePositive:
		return open, StatusFalsePositive, true
	}
	return nil, "", false
}

// Available lists the actions the alert's status allows, in the order of
// Actions: what a dashboard offers as buttons.
func Available(s State) []string {
	out := []string{}
	for _, a := range Actions {
		if from, _, _ := transition(a); slices.Contains(from, s.Status) {
			out = append(out, a)
		}
	}
	return out
}

// Next checks req against the alert's state and returns the event that
// carries it out, with id and time as given. It changes nothing.
func Next(s State, req Request, id string, at time.Time) (Event, error) {
	from, to, ok := transition(req.Action)
	if !ok {
		return Event{}, fmt.Errorf("%w %q (want one of %s)", ErrUnknownAction, req.Action, strings.Join(Actions, ", "))
	}
	if strings.TrimSpace(req.Actor) == "" {
		return Event{}, fmt.Errorf("%w: no actor", ErrInvalid)
	}
	if len(req.Note) > MaxNote {
		return Event{}, fmt.Errorf("%w: note longer than %d bytes", ErrInvalid, MaxNote)
	}
	ev := Event{
		ID: id, AlertID: s.AlertID, Action: req.Action, Status: to,
		Actor: strings.TrimSpace(req.Actor), At: at.UTC(), Note: strings.TrimSpace(req.Note),
	}
	switch req.Action {
	case ActionAssign:
		ev.Assignee = strings.TrimSpace(req.Assignee)
		if ev.Assignee == "" {
			return Event{}, fmt.Errorf("%w: assign needs an assignee", ErrInvalid)
		}
	case ActionEscalate:
		ev.EscalatedTo = req.To
		if ev.EscalatedTo != EscalatePress && ev.EscalatedTo != EscalatePrivacy {
			return Event{}, fmt.Errorf("%w: escalate needs to=%s or to=%s", ErrInvalid, EscalatePress, EscalatePrivacy)
		}
	}
	if !slices.Contains(from, s.Status) {
		return Event{}, fmt.Errorf("%w: cannot %s an alert that is %s", ErrTransition, req.Action, s.Status)
	}
	return ev, nil
}

// Apply returns the state after the event stored at stream sequence seq.
// Events are applied as stored, without checking the transition again: the
// stream is the record, and a replica must reach the state every other
// replica reaches.
func (s State) Apply(e Event, seq uint64) State {
	if s.AlertID == "" {
		s = NewState(e.AlertID)
	}
	s.History = append(slices.Clip(s.History), e)
	s.Status = e.Status
	s.UpdatedAt, s.UpdatedBy, s.Seq = e.At, e.Actor, seq
	switch e.Action {
	case ActionAssign:
		s.Assignee = e.Assignee
	case ActionEscalate:
		s.EscalatedTo = e.EscalatedTo
	}
	return s
}
