package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mediawatch/mediawatch/auth"
)

// cmdUser handles `mediawatch user add NAME --role ROLE[,ROLE]`: it reads
// the password from the first line of standard input (so it never shows in
// the shell history or the process list), hashes it with argon2id and
// prints the entry to paste into the configuration's users list.
func cmdUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: mediawatch user add NAME --role ROLE[,ROLE] < password")
		return 2
	}
	fs := newFlags("user add", stderr)
	roles := fs.String("role", "", "comma-separated roles: "+strings.Join(auth.Roles(), ", "))
	name, rest := "", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mediawatch user add: one name, then --role")
		return 2
	}
	var list []string
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			list = append(list, r)
		}
	}
	if strings.TrimSpace(name) == "" || len(list) == 0 {
		fmt.Fprintln(stderr, "usage: mediawatch user add NAME --role ROLE[,ROLE] < password")
		return 2
	}
	for _, r := range list {
		if !slices.Contains(auth.Roles(), r) {
			fmt.Fprintf(stderr, "mediawatch user add: unknown role %q (want %s)\n", r, strings.Join(auth.Roles(), ", "))
			return 2
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "mediawatch user add: read password:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	if len([]rune(password)) < 12 {
		fmt.Fprintln(stderr, "mediawatch user add: give a password of at least 12 characters on standard input")
		return 2
	}
	hash, err := auth.HashPassword(password, auth.DefaultParams())
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch user add:", err)
		return 1
	}
	fmt.Fprintf(stdout, "users:\n  - name: %q\n    password_hash: %q\n    roles: [%s]\n", strings.TrimSpace(name), hash, strings.Join(list, ", "))
	return 0
}
