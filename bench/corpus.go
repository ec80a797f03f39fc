package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/demo"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

// Shares of the synthetic posts: about 30% mention a watched institution,
// and a sixth of those (5% of all posts) break a guideline. The rest is the
// ordinary chatter a search feed or tag feed brings along.
const (
	violationPerMille   = 50
	institutionPerMille = 300
	minTextBytes        = 300
	maxTextBytes        = 3000
)

// kind is what a post is made to be.
type kind uint8

const (
	kindPlain       kind = iota // mentions no watched institution
	kindInstitution             // mentions one, breaks no guideline
	kindViolation               // mentions one and raises an alert
)

// post is one synthetic feed item.
type post struct {
	guid, link, title, author string
	// paragraphs of plain text; rendered as <p> elements.
	paragraphs []string
	lang       string
	kind       kind
	published  time.Time
}

// textBytes is the length of the post's text as the daemon sees it.
func (p *post) textBytes() int {
	n := 0
	for _, par := range p.paragraphs {
		n += len(par) + 1
	}
	return n
}

// snippet is a piece of a real-looking post: a rule's own example or an
// item of the demo corpus.
type snippet struct {
	title, text, author, url string
	lang                     string
}

// generator makes posts deterministically from their number: the same seed
// and number give the same post, so the feed server need not keep them.
type generator struct {
	seed    uint64
	matcher *match.Matcher
	base    time.Time
	// violations raise an alert on their own; hardNegatives mention an
	// institution and raise none. Both by language.
	violations    map[string][]snippet
	hardNegatives map[string][]snippet
	institutions  map[string][]string // names to write, by language
}

// newGenerator collects the phrasings: every match example of the rules in
// force and every labelled item of the demo corpus that, on its own, raises
// an alert (violations), and the no_match examples and hard negatives that
// mention an institution without raising one.
//
// matcher is the daemon's own: one process, one matcher in memory.
func newGenerator(ctx context.Context, matcher *match.Matcher, institutions []match.Institution, seed uint64, base time.Time) (*generator, error) {
	g := &generator{
		seed: seed, matcher: matcher, base: base,
		violations:    map[string][]snippet{},
		hardNegatives: map[string][]snippet{},
		institutions:  map[string][]string{},
	}
	for _, inst := range institutions {
		for _, name := range append([]string{inst.Name}, inst.Aliases...) {
			if !utf8.ValidString(name) || strings.TrimSpace(name) == "" {
				continue
			}
			g.institutions["nl"] = append(g.institutions["nl"], name)
			g.institutions["en"] = append(g.institutions["en"], name)
		}
	}
	if len(g.institutions["nl"]) == 0 {
		return nil, fmt.Errorf("bench: no institution configured")
	}
	var candidates []snippet
	var negatives []snippet
	for _, r := range matcher.Rules() {
		for _, ex := range r.Examples.Match {
			if ex.MediaAlt != "" || ex.FeedTitle != "" {
				continue // needs an image or a feed of its own
			}
			candidates = append(candidates, snippet{title: ex.Title, text: ex.Text, author: ex.Author, url: ex.URL})
		}
		for _, ex := range r.Examples.NoMatch {
			if ex.MediaAlt != "" || ex.FeedTitle != "" {
				continue
			}
			negatives = append(negatives, snippet{title: ex.Title, text: ex.Text, author: ex.Author, url: ex.URL})
		}
	}
	labelled, unlabelled, err := demoSnippets(ctx)
	if err != nil {
		return nil, err
	}
	candidates = append(candidates, labelled...)
	negatives = append(negatives, unlabelled...)
	for _, s := range candidates {
		s.lang = guessLang(s.title + " " + s.text)
		if g.classify(g.mentionOf(s, s.text)) == kindViolation {
			g.violations[s.lang] = append(g.violations[s.lang], s)
		}
	}
	for _, s := range negatives {
		s.lang = guessLang(s.title + " " + s.text)
		if g.classify(g.mentionOf(s, s.text)) == kindInstitution {
			g.hardNegatives[s.lang] = append(g.hardNegatives[s.lang], s)
		}
	}
	if len(g.violations["nl"])+len(g.violations["en"]) == 0 {
		return nil, fmt.Errorf("bench: no rule example raises an alert for the configured institutions")
	}
	return g, nil
}

// demoSnippets reads the demo corpus the way the daemon does (served,
// fetched, parsed, normalised): its labelled breaches, and its items that
// are hard negatives or plain news about an institution.
func demoSnippets(ctx context.Context) (labelled, others []snippet, err error) {
	srv, err := demo.Start("127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	breach := map[string]bool{}
	for _, e := range demo.Expectations() {
		if !e.HardNegative() {
			breach[e.FeedID+"\x00"+e.GUID] = true
		}
	}
	for _, f := range demo.Feeds() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL(f.Path), nil)
		if err != nil {
			return nil, nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("bench: demo feed %s: %w", f.ID, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("bench: demo feed %s: %w", f.ID, err)
		}
		parsed, err := ingest.ParseFeed(body, resp.Header.Get("Content-Type"))
		if err != nil {
			return nil, nil, fmt.Errorf("bench: demo feed %s: %w", f.ID, err)
		}
		for _, m := range ingest.Normalise(ingest.FeedSpec{ID: f.ID, URL: srv.URL(f.Path), Source: f.Source}, parsed, time.Now()) {
			if len(m.Media) > 0 {
				continue // the image may be what breaks the guideline
			}
			s := snippet{title: m.Title, text: m.Text, author: m.Author, url: m.URL}
			if breach[f.ID+"\x00"+m.GUID] {
				labelled = append(labelled, s)
			} else {
				others = append(others, s)
			}
		}
	}
	return labelled, others, nil
}

// mentionOf is the mention the daemon would make of a post with the
// snippet's fields and the given text.
func (g *generator) mentionOf(s snippet, text string) *mention.Mention {
	return &mention.Mention{ID: "check", Source: "news", FeedID: "bench", Title: s.title, Text: text, Author: s.author, URL: s.url}
}

// classify tells what the daemon makes of a mention.
func (g *generator) classify(m *mention.Mention) kind {
	res := g.matcher.Match(m)
	if len(alerts.Build(m, res, g.base, alerts.BuildOptions{})) > 0 {
		return kindViolation
	}
	if len(res.Institutions) > 0 {
		return kindInstitution
	}
	return kindPlain
}

// kindOf spreads the kinds evenly over post numbers without a pattern a
// feed's share of the numbers could line up with.
func (g *generator) kindOf(n int) kind {
	h := splitmix(g.seed ^ uint64(n)*0x9e3779b97f4a7c15)
	switch v := h % 1000; {
	case v < violationPerMille:
		return kindViolation
	case v < institutionPerMille:
		return kindInstitution
	}
	return kindPlain
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// post makes post number n of feed f (a feed of the given language and
// source) published at the given time. A post that does not come out as
// the kind it was meant to be (a filler sentence that happens to complete
// a rule, say) is made again from the next random numbers.
func (g *generator) post(n int, f *feedInfo, published time.Time) *post {
	want := g.kindOf(n)
	rng := rand.New(rand.NewPCG(g.seed, uint64(n)))
	var p *post
	for range 20 {
		p = g.draft(rng, n, f, want)
		m := g.mentionOf(snippet{title: p.title, author: p.author, url: p.link}, joinParagraphs(p.paragraphs))
		if got := g.classify(m); got == want {
			break
		}
	}
	p.kind = want
	p.published = published
	return p
}

// draft writes a post: filler sentences in paragraphs up to a length drawn
// between minTextBytes and maxTextBytes (short posts more often than long
// ones, as on social media), with a sentence naming an institution or a
// snippet that breaks a guideline put in somewhere.
func (g *generator) draft(rng *rand.Rand, n int, f *feedInfo, want kind) *post {
	lang := f.lang
	p := &post{
		guid: fmt.Sprintf("bench-%s-%d", f.id, n),
		lang: lang,
	}
	p.link = fmt.Sprintf("https://%s/%s/%d", f.host, f.id, n)
	p.author = pick(rng, authors)
	p.title = fill(rng, pick(rng, titles[lang]))

	var special string
	switch want {
	case kindViolation:
		pool := g.violations[lang]
		if len(pool) == 0 {
			pool = g.violations[otherLang(lang)]
		}
		s := pick(rng, pool)
		special = s.text
		if s.title != "" {
			p.title = s.title
		}
		if s.author != "" {
			p.author = s.author
		}
		if s.url != "" {
			p.link = s.url
		}
	case kindInstitution:
		if pool := g.hardNegatives[lang]; len(pool) > 0 && rng.IntN(3) == 0 {
			s := pick(rng, pool)
			special = s.text
			if s.title != "" {
				p.title = s.title
			}
		} else {
			special = capitalise(strings.ReplaceAll(pick(rng, institutionSentences[lang]), "{inst}", pick(rng, g.institutions[lang])))
		}
	}

	// Log-uniform length: as many 300-byte posts as 3 KB ones per
	// factor of length.
	target := int(float64(minTextBytes) * pow10(rng.Float64()))
	var sentences []string
	size := len(special)
	for size < target {
		s := capitalise(fill(rng, pick(rng, fillers[lang])))
		if size+len(s)+1 > maxTextBytes && size >= minTextBytes {
			break
		}
		sentences = append(sentences, s)
		size += len(s) + 1
	}
	if special != "" {
		at := rng.IntN(len(sentences) + 1)
		sentences = slices.Insert(sentences, at, special)
	}
	for len(sentences) > 0 {
		k := min(len(sentences), 1+rng.IntN(4))
		p.paragraphs = append(p.paragraphs, strings.Join(sentences[:k], " "))
		sentences = sentences[k:]
	}
	return p
}

func pow10(x float64) float64 { return math.Pow(10, x) }

// joinParagraphs is the text a post's paragraphs become once the HTML is
// taken off.
func joinParagraphs(ps []string) string { return strings.Join(ps, "\n\n") }

func otherLang(lang string) string {
	if lang == "nl" {
		return "en"
	}
	return "nl"
}

func pick[T any](rng *rand.Rand, list []T) T { return list[rng.IntN(len(list))] }

func capitalise(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsUpper(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// fill replaces the slots of a template: {place}, {name}, {street}, {n} and
// {word}, the last a rare made-up word, so the vocabulary grows with the
// corpus as real text does.
func fill(rng *rand.Rand, t string) string {
	if !strings.Contains(t, "{") {
		return t
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String()
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:i])
		switch t[i+1 : i+j] {
		case "place":
			b.WriteString(pick(rng, places))
		case "name":
			b.WriteString(pick(rng, firstNames))
			b.WriteByte(' ')
			b.WriteString(surname(rng))
		case "street":
			b.WriteString(capitalise(rareWord(rng)))
			b.WriteString(pick(rng, []string{"straat", "laan", "weg", "singel", "plein"}))
		case "n":
			fmt.Fprintf(&b, "%d", 2+rng.IntN(480))
		case "word":
			b.WriteString(rareWord(rng))
		default:
			b.WriteString(t[i : i+j+1])
		}
		t = t[i+j+1:]
	}
}

func surname(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return pick(rng, surnames)
	}
	return pick(rng, []string{"van ", "de ", "van der ", "", "", ""}) + capitalise(rareWord(rng))
}

// rareWord is a made-up word from syllables, drawn with a long tail: a few
// come back often, most are rare.
func rareWord(rng *rand.Rand) string {
	// Zipf-like: the index of a word falls off as 1/rank.
	rank := int(pow10(rng.Float64()*4.3) - 1) // 0 .. ~20,000
	var b strings.Builder
	x := uint64(rank)*2654435761 + 12345
	for i := 0; i < 2+rank%3; i++ {
		b.WriteString(syllables[x%uint64(len(syllables))])
		x = x/uint64(len(syllables)) + uint64(i+1)*7919
	}
	return b.String()
}

var syllables = []string{
	"ber", "ka", "lin", "dor", "mes", "tru", "van", "hol", "sen", "gra", "pe", "wit", "ram", "nie", "bos", "ter",
	"ul", "fa", "zon", "kel", "ma", "rijk", "o", "sta", "del", "vo", "gen", "lu", "dam", "ri", "wes", "che",
}

// guessLang tells Dutch from English by function words.
func guessLang(s string) string {
	var nl, en int
	for w := range strings.FieldsFuncSeq(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) }) {
		switch w {
		case "de", "het", "een", "en", "van", "niet", "op", "met", "voor", "zijn", "dat", "die", "bij", "ook", "naar", "mijn", "ik", "je", "we":
			nl++
		case "the", "a", "and", "of", "not", "on", "with", "for", "are", "that", "this", "at", "to", "it", "my", "is", "you":
			en++
		}
	}
	if en > nl {
		return "en"
	}
	return "nl"
}

var (
	places = []string{
		"Utrecht", "Amersfoort", "Zeist", "Houten", "Nieuwegein", "Leuven", "Heverlee", "Mechelen", "Tienen", "Aarschot",
		"Hilversum", "Woerden", "Veenendaal", "Culemborg", "Diest", "Haacht", "Bilzen", "Gouda", "Soest", "Bunnik",
	}
	firstNames = []string{
		"Anna", "Daan", "Sanne", "Lotte", "Bram", "Fleur", "Jesse", "Emma", "Thomas", "Noor", "Pieter", "Lieve",
		"Wout", "Ines", "Ruben", "Marieke", "Joris", "Elif", "Mohamed", "Sara", "Jan", "Ellen", "Koen", "Hanna",
	}
	surnames = []string{"de Vries", "Jansen", "Bakker", "Peeters", "Janssens", "Maes", "Visser", "Smit", "Claes", "Wouters", "Mertens", "Dekker"}
	authors  = []string{
		"redactie", "Lokale Omroep", "fietsendemoeder", "@stadsnieuws", "J. van Dijk", "zorgbuurt", "Mira K.", "ward_watcher",
		"de_buurtkrant", "Koen P.", "nieuwsdienst", "@leuvenlive", "Sanne", "anoniem", "Hollandse Post", "Dagblad Oost",
	}
	titles = map[string][]string{
		"nl": {
			"Nieuws uit {place}", "Week van de buurt in {place}", "{name} over de plannen voor {place}", "Wat er speelt in {place}",
			"Drukte op de markt", "Gemeenteraad in gesprek", "Nieuwe plannen voor het centrum", "Korte berichten", "Ingezonden: {word}",
			"Vraag aan de buurt", "Een dag in {place}", "Het weer deze week",
		},
		"en": {
			"News from {place}", "A week in {place}", "{name} on the plans for {place}", "What's going on in {place}",
			"Busy market day", "Council in talks", "New plans for the centre", "In brief", "Letter: {word}",
			"A question for the neighbours", "A day in {place}", "This week's weather",
		},
	}
	fillers = map[string][]string{
		"nl": {
			"het was vandaag druk op de A12 richting {place}, volgens de verkeersinformatie stond er {n} kilometer file.",
			"de gemeente {place} wil volgend jaar {n} nieuwe woningen bouwen aan de rand van de wijk.",
			"{name} uit {place} won zaterdag de lokale hardloopwedstrijd over tien kilometer.",
			"volgens het KNMI wordt het morgen wisselend bewolkt met af en toe een bui en maximaal {n} graden.",
			"de bibliotheek in {place} is vanaf maandag weer op zondag open, meldt wethouder {name}.",
			"op de markt in {place} kostte een kilo appels deze week {n} cent meer dan vorig jaar.",
			"wij gingen met de kinderen naar het park en hebben daarna pannenkoeken gegeten bij {name}.",
			"in de podcast van deze week praat {name} over slapen, bewegen en gezond eten.",
			"er komen extra fietsenrekken bij het station van {place}, zo'n {n} plekken in totaal.",
			"het nieuwe seizoen van de schouwburg in {place} opent met een voorstelling van {name}.",
			"vrijwilligers van de voedselbank zamelden afgelopen weekend {n} kratten boodschappen in.",
			"het waterschap controleert deze maand de dijken langs de Lek bij {place}.",
			"na {n} jaar sluit de bakkerij van {name} in {place} haar deuren.",
			"de gemeenteraad debatteerde gisteravond tot laat over parkeertarieven in het centrum.",
			"mooie wandeling gemaakt langs de Kromme Rijn, de herfstkleuren zijn prachtig dit jaar.",
			"het aantal fietsers op de nieuwe brug groeide vorig jaar met {n} procent.",
			"in {place} start volgende week de aanleg van een nieuwe rotonde bij de {street}.",
			"ik zoek nog iemand die mee wil doen aan de pubquiz van vrijdag in café {word}.",
			"de trein naar {place} rijdt dit weekend niet door werkzaamheden aan het spoor.",
			"het jeugdorkest van {place} geeft op zondag een gratis concert in de kerk.",
			"{name} opent een nieuwe koffiebar aan de {street} met koffie van een lokale brander.",
			"bewoners van de {street} klagen over geluidsoverlast van de bouwplaats.",
			"de sportschool in {place} biedt senioren in oktober gratis proeflessen aan.",
			"het museum toont tot maart een tentoonstelling over de geschiedenis van de stad.",
			"gisteren {n} minuten in de regen gewacht op de bus, het openbaar vervoer blijft lastig.",
			"de kermis komt dit jaar niet naar {place}, tot teleurstelling van veel kinderen.",
			"op de {street} is een nieuwe speeltuin geopend met een klimrek en een zandbak.",
			"het wijkcentrum zoekt mensen die willen helpen bij het taalcafé op woensdagavond.",
			"de veerpont over de rivier vaart vanaf deze maand ook in de avond.",
			"{name} schreef een boek over de geschiedenis van {place}, met veel oude foto's.",
			"de scholen in {place} krijgen geld voor betere ventilatie in de klaslokalen.",
			"het tuinfeest van de volkstuinvereniging trok zaterdag meer dan {n} bezoekers.",
		},
		"en": {
			"traffic was heavy on the ring road near {place} this morning, with queues of about {n} kilometres.",
			"the council in {place} plans to build {n} new homes on the edge of the district next year.",
			"{name} from {place} won the local ten kilometre run on Saturday.",
			"forecasters expect a mix of sun and showers tomorrow with highs of {n} degrees.",
			"the library in {place} will open on Sundays again from next month, said councillor {name}.",
			"a kilo of apples cost {n} cents more at the market this week than last year.",
			"we took the kids to the park and had pancakes at {name}'s place afterwards.",
			"this week's podcast features {name} talking about sleep, exercise and healthy food.",
			"extra bike racks are coming to the station in {place}, around {n} spaces in total.",
			"the theatre season in {place} opens with a show by {name}.",
			"food bank volunteers collected {n} crates of groceries last weekend.",
			"the water board is inspecting the dikes along the river near {place} this month.",
			"after {n} years, the bakery run by {name} in {place} is closing its doors.",
			"the city council debated parking fees in the centre until late last night.",
			"lovely walk along the canal today, the autumn colours are stunning this year.",
			"cyclist numbers on the new bridge grew by {n} percent last year.",
			"construction of a new roundabout on {street} in {place} starts next week.",
			"looking for people to join the pub quiz on Friday at the {word} bar.",
			"trains to {place} are not running this weekend because of track work.",
			"the youth orchestra of {place} gives a free concert in the church on Sunday.",
			"{name} is opening a new coffee bar on {street} serving beans from a local roaster.",
			"residents of {street} are complaining about noise from the building site.",
			"the gym in {place} offers free trial classes to seniors in October.",
			"the museum is showing an exhibition on the history of the city until March.",
			"waited {n} minutes in the rain for the bus yesterday, public transport is a struggle.",
			"the funfair is skipping {place} this year, to the disappointment of many children.",
			"a new playground with a climbing frame and a sandpit opened on {street}.",
			"the community centre is looking for volunteers for its language café on Wednesday evenings.",
			"the river ferry now also runs in the evening from this month.",
			"{name} wrote a book on the history of {place}, with many old photographs.",
			"schools in {place} are getting money for better ventilation in classrooms.",
			"the allotment society's garden party drew more than {n} visitors on Saturday.",
		},
	}
	institutionSentences = map[string][]string{
		"nl": {
			"{inst} opent volgend jaar een nieuw onderzoekscentrum voor kinderoncologie.",
			"mooi interview met een verpleegkundige van {inst} over werken in de nachtdienst.",
			"{inst} zoekt vrijwilligers voor de informatiebalie in de centrale hal.",
			"bezoekers van {inst} kunnen vanaf maart parkeren in de nieuwe garage.",
			"onderzoekers van {inst} krijgen een subsidie voor onderzoek naar hartfalen.",
			"{inst} doet mee aan de landelijke campagne om meer donoren te werven.",
			"vandaag een rondleiding gehad bij {inst}, indrukwekkend hoeveel mensen daar werken.",
			"de wachttijd voor een MRI bij {inst} is volgens de website ongeveer zes weken.",
			"het personeel van {inst} organiseert zaterdag een sponsorloop voor het kinderfonds.",
			"{inst} stelt per 1 januari een nieuwe bestuursvoorzitter aan.",
			"de bus naar {inst} rijdt vanaf volgende week elke tien minuten.",
			"artsen van {inst} geven donderdag een publiekslezing over slaapproblemen.",
		},
		"en": {
			"{inst} is opening a new research centre for childhood cancer next year.",
			"great interview with a nurse from {inst} about working night shifts.",
			"{inst} is looking for volunteers for the information desk in the main hall.",
			"visitors to {inst} can park in the new garage from March.",
			"researchers at {inst} received a grant for research into heart failure.",
			"{inst} joins the national campaign to recruit more donors.",
			"had a tour of {inst} today, impressive how many people work there.",
			"the waiting time for an MRI at {inst} is about six weeks according to the website.",
			"staff at {inst} are organising a charity run for the children's fund on Saturday.",
			"{inst} appoints a new chair of the board as of 1 January.",
			"the bus to {inst} will run every ten minutes from next week.",
			"doctors from {inst} give a public lecture on sleep problems on Thursday.",
		},
	}
)
