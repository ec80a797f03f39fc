package i18n

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// nlYAML is the Dutch catalog. A string rather than a []byte, so that
// nothing can change it after the build.
//
//go:embed nl.yaml
var nlYAML string

// catalogs parses the embedded catalogs on first use and shares the result:
// a map per language, never written after it is built. English has none.
//
// A broken catalog panics, as regexp.MustCompile does for a broken constant
// pattern: the file is fixed at build time and the tests parse it, so this
// cannot happen in a binary whose tests passed.
var catalogs = sync.OnceValue(func() map[string]map[string]string {
	nl, err := parseCatalog(nlYAML)
	if err != nil {
		panic("i18n: nl.yaml: " + err.Error())
	}
	return map[string]map[string]string{Dutch: nl}
})

// parseCatalog parses a flat YAML map of English message to translation and
// checks every entry: a non-empty translation whose fmt verbs are those of
// its key. A translation with a verb too many or too few, or %s for %d,
// would print "%!d(string=…)" or "%!(EXTRA …)" in the middle of a page.
// Duplicate keys are rejected by the YAML decoder.
func parseCatalog(src string) (map[string]string, error) {
	var cat map[string]string
	if err := yaml.Unmarshal([]byte(src), &cat); err != nil {
		return nil, err
	}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(cat)) {
		val := cat[key]
		switch {
		case strings.TrimSpace(key) == "":
			errs = append(errs, errors.New("empty message"))
		case strings.TrimSpace(val) == "":
			errs = append(errs, fmt.Errorf("%q: empty translation", key))
		default:
			if kv, vv := verbs(key), verbs(val); !slices.Equal(kv, vv) {
				errs = append(errs, fmt.Errorf("%q: translation %q has verbs %v, the message %v", key, val, vv, kv))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cat == nil {
		cat = map[string]string{}
	}
	return cat, nil
}

// verbs lists the fmt verbs of a format string by the argument each one
// formats, sorted: "%d of %s" gives [1d 2s]. Keying by argument rather than
// position lets a translation reorder its arguments with explicit indexes
// ("%[2]s … %[1]d"), which word order sometimes needs. A '*' width or
// precision takes an argument too and is listed as such; a '%' at the end
// with no verb is listed as "!", so that it never matches a real verb.
func verbs(format string) []string {
	var out []string
	arg := 1
	add := func(verb string) {
		out = append(out, strconv.Itoa(arg)+verb)
		arg++
	}
	// index reads an explicit argument index "[n]" at format[i:], returning
	// the position after it.
	index := func(i int) int {
		if i >= len(format) || format[i] != '[' {
			return i
		}
		end := strings.IndexByte(format[i:], ']')
		if end < 0 {
			return i
		}
		if n, err := strconv.Atoi(format[i+1 : i+end]); err == nil {
			arg = n
		}
		return i + end + 1
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			continue // a literal percent sign
		}
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		i = index(i)
		if i < len(format) && format[i] == '*' {
			add("*")
			i++
		}
		for i < len(format) && '0' <= format[i] && format[i] <= '9' {
			i++
		}
		if i < len(format) && format[i] == '.' {
			i = index(i + 1)
			if i < len(format) && format[i] == '*' {
				add("*")
				i++
			}
			for i < len(format) && '0' <= format[i] && format[i] <= '9' {
				i++
			}
		}
		i = index(i)
		if i >= len(format) {
			add("!")
			break
		}
		r, size := utf8.DecodeRuneInString(format[i:])
		add(string(r))
		i += size - 1
	}
	slices.Sort(out)
	return out
}

// MissingIn returns the messages of msgs that the catalog of lang lacks,
// sorted and without duplicates. English lacks nothing, since its messages
// are their own translation. A language this package does not support has
// no catalog at all and so lacks every message: a test that misspells the
// language fails rather than passing with nothing to check.
func MissingIn(lang string, msgs []string) []string {
	var missing []string
	l, ok := supported(lang)
	switch {
	case !ok:
		missing = slices.Clone(msgs)
	case l == English:
		return nil
	default:
		cat := catalogs()[l]
		for _, m := range msgs {
			if cat[m] == "" {
				missing = append(missing, m)
			}
		}
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// Catalog returns a copy of the catalog of lang, English message to
// translation. English and unsupported languages give an empty map.
func Catalog(lang string) map[string]string {
	l, ok := supported(lang)
	if !ok {
		return map[string]string{}
	}
	cat := maps.Clone(catalogs()[l])
	if cat == nil {
		cat = map[string]string{}
	}
	return cat
}
