package triage

import (
	"errors"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	state := func(status string) State {
		s := NewState("a1")
		s.Status = status
		return s
	}
	tests := []struct {
		name    string
		from    string
		req     Request
		want    string // resulting status
		wantErr error
	}{
		{"ack a new alert", StatusNew, Request{Action: ActionAck, Actor: "anna"}, StatusAcknowledged, nil},
		{"ack twice", StatusAcknowledged, Request{Action: ActionAck, Actor: "anna"}, "", ErrTransition},
		{"assign after ack", StatusAcknowledged, Request{Action: ActionAssign, Actor: "anna", Assignee: "bram"}, StatusAssigned, nil},
		{"reassign", StatusAssigned, Request{Action: ActionAssign, Actor: "bram", Assignee: "carla"}, StatusAssigned, nil},
		{"assign to nobody", StatusNew, Request{Action: ActionAssign, Actor: "anna", Assignee: "  "}, "", ErrInvalid},
		{"escalate to privacy", StatusAssigned, Request{Action: ActionEscalate, Actor: "bram", To: EscalatePrivacy}, StatusEscalated, nil},
		{"escalate to press after privacy", StatusEscalated, Request{Action: ActionEscalate, Actor: "bram", To: EscalatePress}, StatusEscalated, nil},
		{"escalate to the board", StatusNew, Request{Action: ActionEscalate, Actor: "anna", To: "board"}, "", ErrInvalid},
		{"resolve straight away", StatusNew, Request{Action: ActionResolve, Actor: "anna", Note: "post removed by author"}, StatusResolved, nil},
		{"false positive after escalation", StatusEscalated, Request{Action: ActionFalsePositive, Actor: "privacy officer"}, StatusFalsePositive, nil},
		{"resolve a false positive", StatusFalsePositive, Request{Action: ActionResolve, Actor: "anna"}, "", ErrTransition},
		{"assign a resolved alert", StatusResolved, Request{Action: ActionAssign, Actor: "anna", Assignee: "bram"}, "", ErrTransition},
		{"unknown action", StatusNew, Request{Action: "delete", Actor: "anna"}, "", ErrUnknownAction},
		{"nobody acting", StatusNew, Request{Action: ActionAck, Actor: " "}, "", ErrInvalid},
		{"note too long", StatusNew, Request{Action: ActionAck, Actor: "anna", Note: string(make([]byte, MaxNote+1))}, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Next(state(tt.from), tt.req, "e1", at)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if ev.Status != tt.want || ev.AlertID != "a1" || ev.ID != "e1" || !ev.At.Equal(at) || ev.Actor != tt.req.Actor {
				t.Errorf("event = %+v, want status %s by %s", ev, tt.want, tt.req.Actor)
			}
		})
	}
}

func TestApplyFoldsHistory(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s := NewState("a1")
	steps := []Request{
		{Action: ActionAck, Actor: "anna"},
		{Action: ActionAssign, Actor: "anna", Assignee: "bram"},
		{Action: ActionEscalate, Actor: "bram", To: EscalatePrivacy, Note: "BSN in the photo"},
		{Action: ActionResolve, Actor: "privacy officer", Note: "author removed the post"},
	}
	for i, req := range steps {
		ev, err := Next(s, req, "e", at.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		s = s.Apply(ev, uint64(10+i))
	}
	if s.Status != StatusResolved || s.Assignee != "bram" || s.EscalatedTo != EscalatePrivacy || len(s.History) != 4 ||
		s.Seq != 13 || s.UpdatedBy != "privacy officer" || !s.UpdatedAt.Equal(at.Add(3*time.Minute)) || !s.Closed() {
		t.Errorf("state = %+v", s)
	}
	if s.History[2].Note != "BSN in the photo" {
		t.Errorf("history lost the note: %+v", s.History[2])
	}
}
