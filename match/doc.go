// Package match decides what a mention is about and which guidelines it
// breaks: it detects the institutions a mention names and runs the rule set
// over its fields, returning findings with exact evidence spans.
//
// The package is pure: no I/O besides reading rule files from an fs.FS it is
// handed, no clock, no logging and no shared state. A Matcher is compiled
// once from rules and institutions, is immutable and is safe for concurrent
// use; reloading rules means compiling a new Matcher and swapping it in.
//
// # Rules
//
// Rules are YAML files holding a "rules:" list (see Rule for every key and
// rules/*.yaml for the shipped set). Decoding is strict: unknown keys, bad
// patterns, unknown fields, validators, categories or severities and
// duplicate ids are reported together, each as a *RuleError naming the file,
// line and rule. Every rule carries the guideline line it enforces and its
// own examples, which Matcher.TestExamples runs.
//
// A rule fires on a field when, in order:
//   - the mention names one of the rule's institutions (unless
//     requires_institution is false) and no exception applies;
//   - for author: non_official, neither the author nor the feed is an
//     official account and the URL is not on an official domain;
//   - one of its keywords occurs in the field (word-bounded, case- and
//     accent-insensitive);
//   - its pattern matches the original text and, with a validator, the
//     matched number passes its check digits (without a pattern the
//     validator finds the numbers; without either the keywords are the
//     evidence);
//   - context.any words occur, and context.none words do not, within
//     context.window words of the match.
//
// The token {institution} in keywords, patterns, context words and
// exception phrases stands for every name, alias and handle of the rule's
// institutions.
//
// # Speed
//
// Match costs about the same whatever the size of the rule set, as long as
// the words of most rules do not occur. Every field is folded once (lower
// case, accents off) and scanned once by one automaton holding every
// keyword, context word, label, exception phrase and institution name; a
// hit leads straight to the rules it concerns, and a rule none of whose
// keywords occur is not looked at. A rule's pattern runs only on fields
// where one of the literals every match must contain occurs (found, for all
// patterns at once, by a second automaton), and only from the positions
// where a match can start; a pattern that is an alternation is split into
// its branches, and at a start only those whose prefix is there are tried,
// the first that matches winning as in the whole expression. Context words are looked up among the hits by
// binary search, in a window of words found around the match. Buffers are
// recycled between calls.
//
// # Evidence
//
// Finding.Start and End are byte offsets into the original field string, so
// Evidence == field[Start:End] always holds. Evidence of sensitive findings
// is personal data: copy it outward only through Finding.RedactedEvidence
// or Redact.
package match
