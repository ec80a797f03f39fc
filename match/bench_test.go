package match

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/mention"
)

// Sentence fragments for the benchmark corpus. Most traffic is harmless
// chatter and news that never names a hospital; some of it names one, and a
// few posts break a guideline. Accents, curly quotes and emoji are there
// because real posts have them.
var (
	benchChatter = []string{
		"Het weer in Utrecht was vandaag prachtig, dus we zijn met de kinderen naar het park gefietst.",
		"De gemeenteraad vergaderde gisteren urenlang over de nieuwe fietsenstalling bij het station.",
		"Vanavond pizza met vrienden en daarna nog een film, eindelijk weekend! 🍕",
		"Wie weet een goede garage in de buurt van Leuven? Mijn auto maakt een raar geluid.",
		"De Tweede Kamer debatteert deze week over de begroting voor onderwijs en cultuur.",
		"Ons café aan de Oudegracht is vanaf maandag weer open, kom gerust langs voor een kopje koffie ☕",
		"Na twee jaar verbouwen is de bibliotheek eindelijk klaar; de kinderafdeling is prachtig geworden.",
		"Great game last night, the home team finally scored in the last minute of extra time.",
		"I’m looking for recommendations: what’s the best bakery in town for sourdough bread?",
		"The conference on urban mobility starts tomorrow with a keynote on cycling infrastructure.",
		"Onze hond heeft vandaag voor het eerst het hele rondje gelopen zonder te trekken 🐶",
		"In België zijn de files op de ring rond Brussel weer langer dan vorig jaar, meldt het Vlaams Verkeerscentrum.",
		"Één ding is zeker: de zomer van dit jaar wordt er een om niet te vergeten.",
		"Hotel in het centrum, kamer 12 op de derde verdieping, prima uitzicht voor het congres.",
		"Studentenkamer te huur in Leuven, op wandelafstand van de binnenstad en de Oude Markt.",
		"The new escape room downtown was great fun, room 2 was the hardest one we tried.",
		"De Kamer van Koophandel meldt dat er dit kwartaal meer starters zijn dan ooit.",
		"Mijn dochter slaapt sinds vorige week eindelijk in haar eigen bed, wat een opluchting.",
		"Koffie, croissant en de krant: zo begint de zaterdag bij ons thuis. ☀️",
		"Wie gaat er mee naar het concert in TivoliVredenburg volgende maand? Nog twee kaartjes over!",
	}
	benchHospital = []string{
		"Het UMC Utrecht opent dit jaar een nieuwe polikliniek voor kinderen, meldt de krant.",
		"Onderzoekers van UZ Leuven publiceren een studie over zeldzame ziekten bij jonge kinderen.",
		"Het Wilhelmina Kinderziekenhuis zoekt vrijwilligers voor de speelkamer op zaterdag.",
		"Artsen en verpleegkundigen van het WKZ werken samen met Gasthuisberg aan nieuw onderzoek.",
		"Open dag in UZ Leuven: kom kijken hoe een operatiekwartier werkt en maak kennis met het team.",
		"The UMC Utrecht research group received a grant for work on antibiotic resistance.",
		"Parkeren bij het UMC Utrecht blijft een drama, ik stond weer een half uur in de rij.",
		"Dank aan het hele team van Pellenberg voor de goede zorg tijdens mijn revalidatie 💙",
	}
	benchViolation = []string{
		"Net een patiënt op kamer 12 op C4 gezien in het UMC Utrecht, die lag daar al een week zonder bezoek.",
		"Pff, weer een dossier open laten staan op de afdeling in het UMC Utrecht, bsn 111222333 gewoon zichtbaar.",
		"Haha kijk dit whiteboard op de afdeling in het WKZ 📸 iedereen z'n naam er nog op.",
		"Die gestoorde patiënt op de SEH van UZ Leuven bleef maar schreeuwen, zo dom.",
		"Rijksregisternummer 85.07.30-033.28 staat gewoon op de foto van die opnamebrief van UZ Leuven 🙈",
		"Hoorcollege stiekem opgenomen in het UMC Utrecht, link in bio.",
		"Namens het UMC Utrecht wil ik iedereen bedanken voor de steun.",
		"Het UMC Utrecht gaat dicht, zeggen ze, niemand vertelt ons iets!",
	}
	benchAuthors = []string{"Jan de Vries", "Redactie", "annelies_83", "Pieter (coassistent)", "UMC Utrecht", "DUIC", "@leuvenlive@mastodon.social"}
	benchFeeds   = []string{"DUIC", "Het Nieuwsblad", "r/thenetherlands", "Mastodon #utrecht", "Forum Leuven"}
)

// benchCorpus builds n posts of roughly 0.3–3 KB, deterministic for a seed:
// about a fifth name a hospital and one in twenty breaks a guideline.
func benchCorpus(n int) []*mention.Mention {
	rng := rand.New(rand.NewPCG(7, 11))
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	out := make([]*mention.Mention, 0, n)
	for i := range n {
		var b strings.Builder
		target := 300 + rng.IntN(2700)
		kind := rng.IntN(20)
		for b.Len() < target {
			switch r := rng.IntN(10); {
			case kind == 0 && r == 0:
				b.WriteString(pick(benchViolation))
			case kind < 4 && r < 2:
				b.WriteString(pick(benchHospital))
			default:
				b.WriteString(pick(benchChatter))
			}
			b.WriteByte(' ')
		}
		mn := &mention.Mention{
			Source:    "bench",
			Title:     pick(benchChatter)[:40],
			Text:      b.String(),
			Author:    pick(benchAuthors),
			FeedTitle: pick(benchFeeds),
			URL:       "https://example.org/posts/" + strconv.Itoa(i),
		}
		if rng.IntN(4) == 0 {
			mn.Media = []mention.Media{{URL: "https://example.org/img.jpg", Alt: pick(benchChatter)}}
		}
		if rng.IntN(3) == 0 {
			mn.Links = []string{"https://www.example.com/article/" + strconv.Itoa(i)}
		}
		out = append(out, mn)
	}
	return out
}

func mentionBytes(mn *mention.Mention) int64 {
	size := int64(len(mn.Text) + len(mn.Title) + len(mn.Author) + len(mn.FeedTitle) + len(mn.URL))
	for _, l := range mn.Links {
		size += int64(len(l))
	}
	for _, md := range mn.Media {
		size += int64(len(md.Alt))
	}
	return size
}

func BenchmarkMatch(b *testing.B) {
	m := defaultMatcher(b)
	mentions := benchCorpus(300)
	// The test cases are small and dense with findings: the worst case.
	for _, c := range loadMentionCases(b) {
		mentions = append(mentions, c.toMention())
	}
	benchmarkMatcher(b, m, mentions)
}

// benchmarkMatcher matches every mention per iteration and reports MB/s.
func benchmarkMatcher(b *testing.B, m *Matcher, mentions []*mention.Mention) {
	var size int64
	for _, mn := range mentions {
		size += mentionBytes(mn)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, mn := range mentions {
			m.Match(mn)
		}
	}
}

// scaledRules returns the shipped rules and copies-times more of them
// whose words never occur in the corpus, as most rules of a larger rule set
// will not: keyword rules get new keywords, pattern rules a leading word of
// their own. Rules with only a validator are not copied.
func scaledRules(tb testing.TB, copies int) []Rule {
	tb.Helper()
	rules, err := LoadRules(DefaultRules(), "*.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	out := slices.Clone(rules)
	for c := range copies {
		suffix := "x" + strconv.Itoa(c)
		for _, r := range rules {
			if len(r.Keywords) == 0 && r.Pattern == "" {
				continue
			}
			r = r.clone()
			r.ID += "_" + suffix
			for i, k := range r.Keywords {
				r.Keywords[i] = k + suffix
			}
			for i, w := range r.Context.Any {
				r.Context.Any[i] = w + suffix
			}
			if r.Pattern != "" {
				r.Pattern = `zq` + suffix + `\s+(?:` + r.Pattern + `)`
			}
			out = append(out, r)
		}
	}
	return out
}

// BenchmarkMatchLargeRuleSet compares the shipped rules with ten times as
// many on the same corpus: rules whose words do not occur should cost
// next to nothing.
func BenchmarkMatchLargeRuleSet(b *testing.B) {
	// The realistic corpus alone: the dense test cases would mostly
	// measure the shipped rules firing, not the cost of the unused ones.
	mentions := benchCorpus(300)
	for _, copies := range []int{0, 9} {
		b.Run("copies="+strconv.Itoa(copies), func(b *testing.B) {
			m, err := Compile(scaledRules(b, copies), DefaultInstitutions())
			if err != nil {
				b.Fatal(err)
			}
			benchmarkMatcher(b, m, mentions)
		})
	}
}

// BenchmarkPrefilter measures the phrase automaton alone over the folded
// corpus text.
func BenchmarkPrefilter(b *testing.B) {
	m := defaultMatcher(b)
	var texts []string
	var size int64
	for _, mn := range benchCorpus(300) {
		texts = append(texts, FoldString(mn.Text))
		size += int64(len(mn.Text))
	}
	b.SetBytes(size)
	var hits []hit
	for b.Loop() {
		for _, t := range texts {
			hits = m.phrases.scan(t, hits[:0])
		}
	}
}

// BenchmarkFold measures folding, without the offset maps.
func BenchmarkFold(b *testing.B) {
	var texts []string
	var size int64
	for _, mn := range benchCorpus(300) {
		texts = append(texts, mn.Text)
		size += int64(len(mn.Text))
	}
	b.SetBytes(size)
	var text []byte
	for b.Loop() {
		for _, t := range texts {
			text = foldAppend(text[:0], t)
		}
	}
}
