package retrieval

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// Library is a generated tool library with labelled queries.
type Library struct {
	Tools   []sdk.ToolSpec
	Queries []Query
}

// Query is a task text and the one tool that serves it.
type Query struct {
	Text string
	Tool string
}

// BaseTools is the size of a generated library without qualified
// variants: domains × objects × verbs.
var BaseTools = len(genDomains) * 6 * len(genVerbs)

// MaxTools is the largest library Generate builds: the base tools and
// their qualified variants.
var MaxTools = BaseTools * (1 + len(genQualifiers))

// Generate builds a deterministic library of min(n, MaxTools) tools
// (n ≤ 0: BaseTools)
// and perTool labelled queries for each of the first BaseTools of them
// (the queries of a larger library stay those of the base tools, which
// must now be told from their qualified variants, such as
// calendar_list_archived_event).
//
// Tools are domain × verb × object ("calendar_create_event"), each with a
// description from the verb's template and documented parameters; past
// BaseTools, qualified variants ("calendar_list_shared_event") follow.
// Queries paraphrase on purpose: the verb and the object are often
// replaced by synonyms ("set up a meeting"), the domain is named only
// sometimes and in other words, and an argument value adds a stray term,
// so that a lexical ranker is not trivially right.
func Generate(seed uint64, n, perTool int) Library {
	if n <= 0 {
		n = BaseTools
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var lib Library
	for q := 0; len(lib.Tools) < n && q <= len(genQualifiers); q++ {
		qual := ""
		if q > 0 {
			qual = genQualifiers[q-1]
		}
		for _, d := range genDomains {
			for _, o := range d.objects {
				for _, v := range genVerbs {
					if len(lib.Tools) == n {
						break
					}
					lib.Tools = append(lib.Tools, genTool(d, o, v, qual))
					if q == 0 {
						for range perTool {
							lib.Queries = append(lib.Queries, Query{Text: genQuery(rng, d, o, v), Tool: lib.Tools[len(lib.Tools)-1].Name})
						}
					}
				}
			}
		}
	}
	return lib
}

// genTool writes one tool spec.
func genTool(d genDomain, o genObject, v genVerb, qual string) sdk.ToolSpec {
	obj, objs := o.name, o.plural()
	name := d.name + "_" + v.name + "_" + o.name
	if qual != "" {
		name = d.name + "_" + v.name + "_" + qual + "_" + o.name
		obj, objs = qual+" "+obj, qual+" "+objs
	}
	desc := strings.NewReplacer("{obj}", obj, "{objs}", objs, "{where}", d.where).Replace(v.desc)
	props := map[string]any{}
	var required []string
	param := func(name, typ, doc string, req bool) {
		props[name] = map[string]any{"type": typ, "description": doc}
		if req {
			required = append(required, name)
		}
	}
	for _, p := range v.params {
		switch p {
		case "id":
			param(o.name+"_id", "string", fmt.Sprintf("Identifier of the %s in the %s.", obj, d.where), true)
		case "fields":
			for _, f := range o.fields {
				param(f, "string", fmt.Sprintf("The %s of the %s.", strings.ReplaceAll(f, "_", " "), obj), v.name == "create")
			}
		case "query":
			param("query", "string", fmt.Sprintf("Words to look for in the %s.", objs), true)
		case "limit":
			param("limit", "integer", fmt.Sprintf("At most this many %s (default 20).", objs), false)
		case "format":
			props["format"] = map[string]any{"type": "string", "enum": []any{"csv", "json"}, "description": "File format of the export."}
		case "filter":
			param("filter", "string", fmt.Sprintf("Only %s matching this expression.", objs), false)
		}
	}
	schema := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		schema["required"] = required
	}
	raw, _ := json.Marshal(schema) // maps of strings and slices always marshal
	return sdk.ToolSpec{Name: name, Description: desc, Parameters: raw}
}

// genQuery paraphrases a task for (d, o, v).
func genQuery(rng *rand.Rand, d genDomain, o genObject, v genVerb) string {
	pick := func(orig string, syns []string, pOrig float64) string {
		if rng.Float64() < pOrig {
			return orig
		}
		return syns[rng.IntN(len(syns))]
	}
	obj := pick(o.name, o.syns, 0.5)
	if v.plural {
		obj = pick(o.plural(), pluralAll(o.syns), 0.5)
	}
	verb := pick(v.name, v.syns, 0.4)
	where := ""
	switch r := rng.Float64(); {
	case r < 0.25:
		where = " in the " + d.where
	case r < 0.6:
		where = " " + d.mentions[rng.IntN(len(d.mentions))]
	}
	val := genValues[rng.IntN(len(genValues))]
	tmpl := genTemplates[rng.IntN(len(genTemplates))]
	return strings.NewReplacer("{verb}", verb, "{obj}", obj, "{where}", where, "{val}", val).Replace(tmpl)
}

func pluralAll(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = genObject{name: w}.plural()
	}
	return out
}

type genDomain struct {
	name, where string
	mentions    []string
	objects     []genObject
}

type genObject struct {
	name   string
	syns   []string
	fields []string
}

// plural is the English plural of the object's last word.
func (o genObject) plural() string {
	n := o.name
	switch {
	case strings.HasSuffix(n, "y") && !strings.HasSuffix(n, "ay") && !strings.HasSuffix(n, "ey"):
		return n[:len(n)-1] + "ies"
	case strings.HasSuffix(n, "s"), strings.HasSuffix(n, "x"), strings.HasSuffix(n, "ch"), strings.HasSuffix(n, "sh"):
		return n + "es"
	}
	return n + "s"
}

type genVerb struct {
	name   string
	syns   []string
	desc   string
	params []string
	plural bool // queries name the object in the plural
}

var genVerbs = []genVerb{
	{"get", []string{"show me", "look up", "fetch", "retrieve", "open", "pull up"}, "Get one {obj} from the {where} by its identifier and return all its details.", []string{"id"}, false},
	{"list", []string{"show all", "enumerate", "give me every", "browse", "display my"}, "List the {objs} in the {where}, newest first, a page at a time.", []string{"limit"}, true},
	{"create", []string{"add", "make", "set up", "register", "start a new", "put in"}, "Create a new {obj} in the {where}.", []string{"fields"}, false},
	{"update", []string{"change", "edit", "modify", "rename", "fix", "adjust"}, "Update the fields of an existing {obj} in the {where}.", []string{"id", "fields"}, false},
	{"delete", []string{"remove", "erase", "get rid of", "drop", "discard", "wipe"}, "Delete a {obj} from the {where} permanently.", []string{"id"}, false},
	{"search", []string{"find", "look for", "hunt for", "locate", "query"}, "Search the {objs} in the {where} by free text and return the best matches.", []string{"query", "limit"}, true},
	{"export", []string{"download", "dump", "back up", "save a copy of", "extract"}, "Export {objs} from the {where} to a file.", []string{"format", "filter"}, true},
	{"count", []string{"how many", "tally", "total number of", "number of", "count up"}, "Count the {objs} in the {where} that match a filter.", []string{"filter"}, true},
}

var genTemplates = []string{
	"{verb} the {obj}{where} for {val}",
	"Could you {verb} {obj}{where}? It is about {val}.",
	"I need to {verb} a {obj}{where} ({val})",
	"please {verb} {obj}{where}, {val}",
	"{val}: {verb} {obj}{where}",
	"Help me {verb} the {obj}{where} regarding {val}",
}

var genValues = []string{
	"Paris", "the quarterly review", "Alex Chen", "order 4471", "next Tuesday", "project Falcon",
	"the blue one", "Maria", "last month", "Berlin trip", "item 12", "the team offsite",
	"Dr. Patel", "my sister", "January", "account 889", "the red label", "Tokyo",
}

var genQualifiers = []string{
	"archived", "shared", "recent", "starred", "pending", "draft", "private", "public", "flagged",
	"pinned", "hidden", "expired", "scheduled", "recurring", "imported", "external", "internal", "team",
}

var genDomains = []genDomain{
	{"calendar", "calendar", []string{"on my schedule", "in the agenda", "for my diary"}, []genObject{
		{"event", []string{"meeting", "appointment", "get-together"}, []string{"title", "start_time"}},
		{"reminder", []string{"alert", "nudge", "ping"}, []string{"message", "remind_at"}},
		{"attendee", []string{"guest", "participant", "invitee"}, []string{"email", "response"}},
		{"room", []string{"venue", "meeting space", "conference hall"}, []string{"building", "capacity"}},
		{"invitation", []string{"invite", "rsvp", "request to join"}, []string{"recipient", "note"}},
		{"timezone", []string{"time zone", "local clock", "utc offset"}, []string{"region", "offset"}},
	}},
	{"email", "mailbox", []string{"in my inbox", "over mail", "in my email account"}, []genObject{
		{"message", []string{"mail", "note", "letter"}, []string{"subject", "body"}},
		{"draft", []string{"unsent message", "outline", "half-written mail"}, []string{"subject", "body"}},
		{"attachment", []string{"attached file", "enclosure", "document sent along"}, []string{"filename", "mime_type"}},
		{"label", []string{"tag", "category", "marker"}, []string{"name", "color"}},
		{"thread", []string{"conversation", "chain", "exchange"}, []string{"subject", "participants"}},
		{"contact", []string{"address book entry", "correspondent", "person"}, []string{"name", "email"}},
	}},
	{"weather", "weather service", []string{"outside", "for the sky tomorrow", "meteorology wise"}, []genObject{
		{"forecast", []string{"outlook", "prediction", "what to expect"}, []string{"location", "days"}},
		{"alert", []string{"warning", "advisory", "storm notice"}, []string{"region", "severity"}},
		{"station", []string{"sensor", "observatory", "measuring post"}, []string{"location", "elevation"}},
		{"radar", []string{"precipitation map", "rain map", "radar image"}, []string{"region", "zoom"}},
		{"history", []string{"past observations", "records", "climate log"}, []string{"location", "date"}},
		{"pollen", []string{"allergy count", "pollen level", "hay fever index"}, []string{"location", "plant"}},
	}},
	{"finance", "bank account", []string{"with my bank", "in my finances", "money wise"}, []genObject{
		{"transaction", []string{"payment", "charge", "purchase record"}, []string{"amount", "merchant"}},
		{"budget", []string{"spending plan", "allowance", "spending limit"}, []string{"category", "amount"}},
		{"invoice", []string{"bill", "statement", "amount owed"}, []string{"customer", "due_date"}},
		{"card", []string{"credit card", "debit card", "plastic"}, []string{"holder", "limit"}},
		{"transfer", []string{"wire", "money movement", "remittance"}, []string{"amount", "destination"}},
		{"payee", []string{"recipient", "beneficiary", "person I pay"}, []string{"name", "iban"}},
	}},
	{"music", "music library", []string{"on my speakers", "in my songs", "for listening"}, []genObject{
		{"playlist", []string{"mix", "queue", "mixtape"}, []string{"name", "description"}},
		{"track", []string{"song", "tune", "single"}, []string{"title", "artist"}},
		{"album", []string{"record", "LP", "release"}, []string{"title", "year"}},
		{"artist", []string{"band", "musician", "singer"}, []string{"name", "genre"}},
		{"lyric", []string{"words", "verses", "song text"}, []string{"track", "language"}},
		{"podcast", []string{"show", "audio series", "episode feed"}, []string{"title", "host"}},
	}},
	{"maps", "map service", []string{"on the map", "nearby", "for getting around"}, []genObject{
		{"route", []string{"directions", "way there", "path"}, []string{"origin", "destination"}},
		{"place", []string{"location", "spot", "point of interest"}, []string{"name", "category"}},
		{"traffic", []string{"congestion", "road conditions", "jam"}, []string{"road", "direction"}},
		{"address", []string{"street address", "postal address", "house number"}, []string{"street", "city"}},
		{"bookmark", []string{"saved spot", "favourite place", "pin"}, []string{"name", "note"}},
		{"transit", []string{"bus schedule", "public transport", "train times"}, []string{"line", "stop"}},
	}},
	{"shopping", "online store", []string{"from the shop", "in my shopping account", "on the store"}, []genObject{
		{"order", []string{"purchase", "shipment", "delivery"}, []string{"product", "quantity"}},
		{"cart", []string{"basket", "trolley", "checkout bag"}, []string{"product", "quantity"}},
		{"product", []string{"item", "goods", "merchandise"}, []string{"name", "price"}},
		{"review", []string{"rating", "feedback", "star rating"}, []string{"product", "stars"}},
		{"coupon", []string{"discount code", "voucher", "promo code"}, []string{"code", "percent"}},
		{"wishlist", []string{"wish list", "saved items", "gift list"}, []string{"name", "product"}},
	}},
	{"files", "cloud drive", []string{"in my drive", "in cloud storage", "among my documents"}, []genObject{
		{"file", []string{"document", "upload", "spreadsheet"}, []string{"path", "size"}},
		{"folder", []string{"directory", "collection", "subfolder"}, []string{"path", "owner"}},
		{"permission", []string{"access right", "sharing setting", "who can see it"}, []string{"user", "role"}},
		{"version", []string{"revision", "snapshot", "older copy"}, []string{"file", "timestamp"}},
		{"link", []string{"share link", "URL", "public address"}, []string{"file", "expires_at"}},
		{"trash", []string{"deleted files", "bin", "recycle bin"}, []string{"path", "deleted_at"}},
	}},
	{"social", "social network", []string{"on my feed", "with my followers", "online"}, []genObject{
		{"post", []string{"status update", "tweet", "announcement"}, []string{"text", "visibility"}},
		{"comment", []string{"reply", "remark", "response"}, []string{"post", "text"}},
		{"follower", []string{"fan", "subscriber", "audience member"}, []string{"handle", "since"}},
		{"profile", []string{"bio", "account page", "about section"}, []string{"handle", "bio"}},
		{"story", []string{"moment", "highlight", "24-hour clip"}, []string{"media", "caption"}},
		{"group", []string{"community", "circle", "club"}, []string{"name", "topic"}},
	}},
	{"health", "health tracker", []string{"for my fitness", "in my health app", "for my wellbeing"}, []genObject{
		{"workout", []string{"exercise session", "training", "run"}, []string{"activity", "duration"}},
		{"meal", []string{"food log", "diet entry", "lunch"}, []string{"food", "calories"}},
		{"sleep", []string{"rest", "nap record", "night"}, []string{"start", "duration"}},
		{"medication", []string{"pill", "prescription", "dose"}, []string{"drug", "schedule"}},
		{"vital", []string{"heart rate", "blood pressure", "pulse reading"}, []string{"kind", "value"}},
		{"goal", []string{"target", "objective", "milestone"}, []string{"metric", "value"}},
	}},
	{"travel", "travel agency", []string{"for my trip", "abroad", "for the vacation"}, []genObject{
		{"flight", []string{"plane ticket", "airfare", "air trip"}, []string{"origin", "destination"}},
		{"hotel", []string{"lodging", "accommodation", "place to stay"}, []string{"city", "nights"}},
		{"booking", []string{"reservation", "trip", "confirmation"}, []string{"reference", "traveller"}},
		{"visa", []string{"entry permit", "travel document", "border paperwork"}, []string{"country", "passport"}},
		{"rental", []string{"rental car", "hire vehicle", "car hire"}, []string{"pickup", "dropoff"}},
		{"itinerary", []string{"trip plan", "travel schedule", "day plan"}, []string{"traveller", "days"}},
	}},
	{"support", "helpdesk", []string{"for customer service", "at the help desk", "for our users"}, []genObject{
		{"ticket", []string{"issue", "case", "complaint"}, []string{"subject", "priority"}},
		{"agent", []string{"representative", "operator", "support person"}, []string{"name", "team"}},
		{"macro", []string{"canned reply", "template answer", "saved response"}, []string{"name", "body"}},
		{"sla", []string{"response deadline", "service target", "service level"}, []string{"priority", "hours"}},
		{"customer", []string{"client", "requester", "end user"}, []string{"name", "email"}},
		{"article", []string{"help article", "knowledge base page", "FAQ entry"}, []string{"title", "body"}},
	}},
}
