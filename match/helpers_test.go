package match

import (
	"testing"
)

// DefaultInstitutions mirrors the shipped configuration; config owns the
// real defaults.
func DefaultInstitutions() []Institution {
	return []Institution{
		{
			ID:               "umc-utrecht",
			Name:             "UMC Utrecht",
			Aliases:          []string{"UMCU", "Universitair Medisch Centrum Utrecht", "WKZ", "Wilhelmina Kinderziekenhuis"},
			OfficialAccounts: []string{"UMC Utrecht", "@umcutrecht"},
			OfficialDomains:  []string{"umcutrecht.nl"},
			ShortNames:       []ShortName{{Name: "UMC", With: []string{"Utrecht", "Uithof", "Leidsche Rijn"}}},
			OtherNames:       []string{"Amsterdam UMC", "UMC Groningen"},
		},
		{
			ID:               "uz-leuven",
			Name:             "UZ Leuven",
			Aliases:          []string{"Universitaire Ziekenhuizen Leuven", "UZ Gasthuisberg", "Gasthuisberg", "campus Pellenberg"},
			OfficialAccounts: []string{"UZ Leuven", "@uzleuven"},
			OfficialDomains:  []string{"uzleuven.be"},
			ShortNames: []ShortName{
				{Name: "UZ", With: []string{"Leuven", "Heverlee"}},
				{Name: "Pellenberg", With: []string{"revalidatie", "ziekenhuis", "patiënten", "infirmière", "service"}},
			},
			OtherNames: []string{"UZ Gent", "UZ Brussel"},
		},
	}
}

// defaultMatcher compiles the shipped rules for the default institutions.
func defaultMatcher(tb testing.TB) *Matcher {
	tb.Helper()
	rules, err := LoadRules(DefaultRules(), "*.yaml")
	if err != nil {
		tb.Fatalf("LoadRules(DefaultRules()): %v", err)
	}
	m, err := Compile(rules, DefaultInstitutions())
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return m
}
