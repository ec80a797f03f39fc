package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/auth"
	"go.yaml.in/yaml/v3"
)

func TestUserAdd(t *testing.T) {
	var out, errOut bytes.Buffer
	code := runWithInput(context.Background(), []string{"user", "add", "anna", "--role", "analyst,privacy"},
		strings.NewReader("een lang genoeg wachtwoord\n"), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got struct {
		Users []struct {
			Name         string   `yaml:"name"`
			PasswordHash string   `yaml:"password_hash"`
			Roles        []string `yaml:"roles"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(out.Bytes(), &got); err != nil || len(got.Users) != 1 {
		t.Fatalf("output is not a users entry: %v\n%s", err, out.String())
	}
	u := got.Users[0]
	if u.Name != "anna" || strings.Join(u.Roles, ",") != "analyst,privacy" {
		t.Errorf("entry %+v", u)
	}
	if ok, err := auth.VerifyPassword(u.PasswordHash, "een lang genoeg wachtwoord"); !ok || err != nil {
		t.Errorf("the printed hash does not verify the password: %v", err)
	}
	if strings.Contains(out.String(), "wachtwoord") {
		t.Error("the password is in the output")
	}

	for _, tt := range []struct {
		args  []string
		input string
	}{
		{[]string{"user", "add", "anna", "--role", "analyst"}, "kort\n"},
		{[]string{"user", "add", "anna", "--role", "god"}, "een lang genoeg wachtwoord\n"},
		{[]string{"user", "add", "anna"}, "een lang genoeg wachtwoord\n"},
		{[]string{"user", "remove", "anna"}, ""},
	} {
		if code := runWithInput(context.Background(), tt.args, strings.NewReader(tt.input), &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", tt.args, code)
		}
	}
}
