package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/match"
)

const rulesUsage = `Usage:
  mediawatch rules test [--config FILE]   run every rule's own examples
  mediawatch rules list [--config FILE]   the rules in force: id, category, severity, description, policy file (tab-separated)
`

func cmdRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	switch args[0] {
	case "test":
		return cmdRulesTest(args[1:], stdout, stderr)
	case "list":
		return cmdRulesList(args[1:], stdout, stderr)
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, rulesUsage)
		return 0
	}
	fmt.Fprintf(stderr, "mediawatch rules: unknown subcommand %q\n\n%s", args[0], rulesUsage)
	return 2
}

// cmdRulesTest loads every rule it can, runs the examples of those that
// loaded and reports per rule; rules that did not load are reported with
// every problem, so one run shows everything to fix.
func cmdRulesTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rules test", stderr)
	cfgPath := fs.String("config", "", "config file (YAML) for institutions and rule directories; empty: built-in defaults")
	cfg, code, ok := parseWithConfig(fs, cfgPath, args, stderr)
	if !ok {
		return code
	}
	rules, loadErr := app.LoadRules(cfg)
	problems := map[string][]string{} // rule id → problems; "" for whole files
	addProblems := func(err error) {
		for _, e := range app.SplitErrors(err) {
			var re *match.RuleError
			if errors.As(e, &re) {
				problems[re.Rule] = append(problems[re.Rule], re.Error())
			} else {
				problems[""] = append(problems[""], e.Error())
			}
		}
	}
	addProblems(loadErr)

	// Compile what loaded, leaving out rules that do not compile so the
	// others still get their examples run.
	matcher, err := match.Compile(rules, cfg.Institutions)
	if err != nil {
		addProblems(err)
		sound := rules[:0:0]
		for _, r := range rules {
			if len(problems[r.ID]) == 0 {
				sound = append(sound, r)
			}
		}
		if matcher, err = match.Compile(sound, cfg.Institutions); err != nil {
			addProblems(err)
			matcher = nil
		}
	}
	if matcher != nil {
		addProblems(matcher.TestExamples())
	}

	ids := make([]string, 0, len(rules))
	examples := map[string]int{}
	for _, r := range rules {
		ids = append(ids, r.ID)
		examples[r.ID] = len(r.Examples.Match) + len(r.Examples.NoMatch)
	}
	// Rules that failed to load are not in rules but have problems.
	for id := range problems {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	failed := 0
	for _, id := range ids {
		if ps := problems[id]; len(ps) > 0 {
			failed++
			for _, p := range ps {
				fmt.Fprintf(stdout, "FAIL %s  %s\n", id, p)
			}
			continue
		}
		fmt.Fprintf(stdout, "ok   %s  %d examples\n", id, examples[id])
	}
	for _, p := range problems[""] {
		fmt.Fprintf(stdout, "FAIL %s\n", p)
	}
	fmt.Fprintf(stdout, "%d rules: %d ok, %d failed", len(ids), len(ids)-failed, failed)
	if n := len(problems[""]); n > 0 {
		fmt.Fprintf(stdout, ", %d other problem(s)", n)
	}
	fmt.Fprintln(stdout)
	if failed > 0 || len(problems[""]) > 0 {
		return 1
	}
	return 0
}

func cmdRulesList(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rules list", stderr)
	cfgPath := fs.String("config", "", "config file (YAML) for institutions and rule directories; empty: built-in defaults")
	cfg, code, ok := parseWithConfig(fs, cfgPath, args, stderr)
	if !ok {
		return code
	}
	matcher, err := app.LoadMatcher(cfg)
	if err != nil {
		for _, l := range lines(err) {
			fmt.Fprintln(stderr, l)
		}
		return 1
	}
	// Matcher.Rules is sorted by id.
	for _, r := range matcher.Rules() {
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Category, r.Severity, tabless(r.Description), r.Policy.File)
	}
	return 0
}

// tabless keeps a free-text column on one line and in one column.
func tabless(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
