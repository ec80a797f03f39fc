package match

// Categories of findings, from the guidelines. They are also NATS subject
// tokens and metric label values, so they never change spelling.
const (
	CategoryPatientData    = "patient_data"
	CategoryLogoMisuse     = "logo_misuse"
	CategoryMisinformation = "misinformation"
	CategoryConduct        = "conduct"
)

// Categories lists every category in a fixed order (for metrics pre-creation
// and validation).
var Categories = []string{CategoryPatientData, CategoryLogoMisuse, CategoryMisinformation, CategoryConduct}

// Severity of a finding or alert.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Severities lists every severity from least to most severe.
var Severities = []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities: info is 0, critical 4, an unknown severity -1.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return i
		}
	}
	return -1
}

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool { return s.Rank() >= 0 }

// Institution is a hospital mediawatch watches for. It is configuration
// (config embeds it) and input to the matcher.
type Institution struct {
	// ID is a short slug, used in NATS subjects and metric labels
	// (umc-utrecht, uz-leuven).
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Aliases are other names that unambiguously mean this institution
	// (WKZ, Gasthuisberg). Matched on word boundaries, case- and
	// accent-insensitive.
	Aliases []string `yaml:"aliases" json:"aliases,omitempty"`
	// OfficialAccounts are handles or account titles of the institution's own
	// accounts (e.g. "@UMCUtrecht", "@umcutrecht@mastodon.nl"): posts by them
	// are never logo misuse.
	OfficialAccounts []string `yaml:"official_accounts" json:"official_accounts,omitempty"`
	// OfficialDomains are the institution's own domains; their subdomains
	// are official too.
	OfficialDomains []string `yaml:"official_domains" json:"official_domains,omitempty"`
	// ShortNames are what locals call it ("het UMC", "het UZ", the campus
	// "Pellenberg"): ambiguous on their own, so each counts only in a post
	// that also contains one of its With words (a place: Utrecht, Uithof;
	// or, for a campus named after its village, care words), and never
	// inside OtherNames.
	ShortNames []ShortName `yaml:"short_names" json:"short_names,omitempty"`
	// OtherNames are other institutions whose names contain a short name
	// ("Amsterdam UMC", "UZ Gent").
	OtherNames []string `yaml:"other_names" json:"other_names,omitempty"`
}

// ShortName is an ambiguous name of an institution and the words that
// settle it.
type ShortName struct {
	Name string   `yaml:"name" json:"name"`
	With []string `yaml:"with" json:"with"`
}
