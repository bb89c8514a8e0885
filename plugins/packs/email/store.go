package email

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", FTS5 built in

	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
)

// Errors of the package; test with errors.Is. The tools answer the model
// with their message (IsError), so they say what to change.
var (
	// ErrBadQuery means a search's arguments cannot run: a keyword with no
	// searchable word or a control character, a date that is not
	// YYYY-MM-DD, a result count out of range.
	ErrBadQuery = errors.New("email: bad query")
	// ErrNotFound means no message of the inbox has the id.
	ErrNotFound = errors.New("email: no such message")
	// ErrNoInbox means a tool call reached the tools without an inbox: the
	// episode was not started for a task (sandbox.StartTask) whose
	// metadata names one, nor through ForInbox.
	ErrNoInbox = errors.New("email: no inbox bound to this call")
)

// Limits of a search.
const (
	DefaultMaxResults = 10
	MaxResults        = 20
	MaxKeywords       = 8
	MaxKeywordBytes   = 64
)

// Store holds the messages of every inbox of a corpus in an in-memory
// SQLite database with an FTS5 index of subjects and bodies. It is safe for
// concurrent use.
//
// # Why SQLite FTS5
//
// Real full-text search (tokenised, ranked, phrase-aware) is what the agent
// meets outside this environment, and FTS5's query language is exactly
// what a careless tool would let the model inject into. Every value reaches
// SQL as a bound parameter and every keyword reaches FTS5 as a quoted
// phrase (see [ftsQuery]), so no model-written string is ever parsed as SQL
// or as FTS syntax.
type Store struct {
	db *sql.DB
	// keep holds one connection open for the store's life: an in-memory
	// database lives as long as one connection to it does.
	keep *sql.Conn
}

var storeSeq atomic.Uint64

// NewStore indexes msgs.
func NewStore(ctx context.Context, msgs []corpus.Message) (*Store, error) {
	// A named shared-cache memory database: every pooled connection sees
	// the same data, and stores in one process stay apart.
	dsn := fmt.Sprintf("file:toolbrain-email-%d?mode=memory&cache=shared", storeSeq.Add(1))
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("email: open index: %w", err)
	}
	keep, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("email: open index: %w", err)
	}
	s := &Store{db: db, keep: keep}
	if err := s.load(ctx, msgs); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Open indexes the messages of a corpus directory (corpus.MessagesFile).
func Open(ctx context.Context, dir string) (*Store, error) {
	msgs, err := corpus.ReadMessages(filepath.Join(dir, corpus.MessagesFile))
	if err != nil {
		return nil, err
	}
	return NewStore(ctx, msgs)
}

const schemaSQL = `
CREATE TABLE messages (
	n INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE,
	inbox TEXT NOT NULL,
	date TEXT NOT NULL,
	sender TEXT NOT NULL,
	sender_name TEXT NOT NULL,
	recipients TEXT NOT NULL,
	subject TEXT NOT NULL,
	body TEXT NOT NULL
);
CREATE INDEX messages_inbox_date ON messages (inbox, date);
CREATE TABLE recipients (n INTEGER NOT NULL, addr TEXT NOT NULL, name TEXT NOT NULL);
CREATE INDEX recipients_n ON recipients (n);
CREATE VIRTUAL TABLE fts USING fts5 (subject, body, tokenize = 'unicode61');
`

func (s *Store) load(ctx context.Context, msgs []corpus.Message) error {
	tx, err := s.keep.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("email: index: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("email: index schema: %w", err)
	}
	for i, m := range msgs {
		n := i + 1
		if _, err := time.Parse(time.DateOnly, m.Date); err != nil {
			return fmt.Errorf("email: message %s: date %q: %w", m.ID, m.Date, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO messages (n, id, inbox, date, sender, sender_name, recipients, subject, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n, m.ID, m.Inbox, m.Date, strings.ToLower(m.From), localPart(m.From), strings.Join(m.To, ", "), m.Subject, m.Body); err != nil {
			return fmt.Errorf("email: message %s: %w", m.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fts (rowid, subject, body) VALUES (?, ?, ?)`, n, m.Subject, m.Body); err != nil {
			return fmt.Errorf("email: message %s: %w", m.ID, err)
		}
		for _, to := range m.To {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recipients (n, addr, name) VALUES (?, ?, ?)`, n, strings.ToLower(to), localPart(to)); err != nil {
				return fmt.Errorf("email: message %s: %w", m.ID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("email: index: %w", err)
	}
	return nil
}

// localPart is the lower-cased name before "@" of an address.
func localPart(addr string) string {
	name, _, _ := strings.Cut(strings.ToLower(addr), "@")
	return name
}

// Close releases the database.
func (s *Store) Close() error {
	s.keep.Close()
	return s.db.Close()
}

// Query is a search. Zero fields do not filter.
type Query struct {
	// Keywords must all appear (each as a phrase) in the subject or body.
	Keywords []string `json:"keywords"`
	// From and To match an address ("bob@acme.com") or its name ("bob").
	From string `json:"from_addr"`
	To   string `json:"to_addr"`
	// SentAfter and SentBefore (YYYY-MM-DD) keep messages sent strictly
	// after or before the day.
	SentAfter  string `json:"sent_after"`
	SentBefore string `json:"sent_before"`
	// MaxResults caps the hits (default DefaultMaxResults, at most
	// MaxResults).
	MaxResults int `json:"max_results"`
}

// Hit is one search result: what the model reads to choose a message.
type Hit struct {
	ID      string `json:"id"`
	Date    string `json:"date"`
	From    string `json:"from"`
	Subject string `json:"subject"`
}

// Search returns the messages of inbox matching q, newest first (ties by
// id, so the order is total and repeatable).
func (s *Store) Search(ctx context.Context, inbox string, q Query) ([]Hit, error) {
	where := []string{"m.inbox = ?"}
	args := []any{inbox}
	from := "messages m"
	if len(q.Keywords) > 0 {
		match, err := ftsQuery(q.Keywords)
		if err != nil {
			return nil, err
		}
		from = "fts JOIN messages m ON m.n = fts.rowid"
		where = append(where, "fts MATCH ?")
		args = append(args, match)
	}
	if q.From != "" {
		where = append(where, "(m.sender = ? OR m.sender_name = ?)")
		v := strings.ToLower(strings.TrimSpace(q.From))
		args = append(args, v, v)
	}
	if q.To != "" {
		where = append(where, "EXISTS (SELECT 1 FROM recipients r WHERE r.n = m.n AND (r.addr = ? OR r.name = ?))")
		v := strings.ToLower(strings.TrimSpace(q.To))
		args = append(args, v, v)
	}
	for _, d := range []struct{ name, v, op string }{{"sent_after", q.SentAfter, ">"}, {"sent_before", q.SentBefore, "<"}} {
		if d.v == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d.v); err != nil {
			return nil, fmt.Errorf("%w: %s %q is not a date like 2024-03-05", ErrBadQuery, d.name, d.v)
		}
		where = append(where, "m.date "+d.op+" ?")
		args = append(args, d.v)
	}
	limit := q.MaxResults
	switch {
	case limit == 0:
		limit = DefaultMaxResults
	case limit < 0 || limit > MaxResults:
		return nil, fmt.Errorf("%w: max_results %d, want 1..%d", ErrBadQuery, limit, MaxResults)
	}
	args = append(args, limit)
	query := "SELECT m.id, m.date, m.sender, m.subject FROM " + from +
		" WHERE " + strings.Join(where, " AND ") + " ORDER BY m.date DESC, m.id DESC LIMIT ?"
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("email: search: %w", err)
	}
	defer rows.Close()
	hits := []Hit{}
	for rows.Next() {
		var h Hit
		if err := rows.Scan(&h.ID, &h.Date, &h.From, &h.Subject); err != nil {
			return nil, fmt.Errorf("email: search: %w", err)
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("email: search: %w", err)
	}
	return hits, nil
}

// ftsQuery turns keywords into an FTS5 query that means "every keyword, as
// a phrase": each is wrapped in double quotes with inner quotes doubled,
// which is FTS5's string syntax, so operators (AND, OR, NOT, NEAR), column
// filters, prefixes and parentheses in a keyword are plain text. A keyword
// with no letter or digit would make an empty phrase, and control
// characters have no business in a search: both are refused.
func ftsQuery(keywords []string) (string, error) {
	if len(keywords) > MaxKeywords {
		return "", fmt.Errorf("%w: %d keywords, at most %d", ErrBadQuery, len(keywords), MaxKeywords)
	}
	var parts []string
	for _, k := range keywords {
		k = strings.TrimSpace(k)
		if len(k) > MaxKeywordBytes {
			return "", fmt.Errorf("%w: keyword of %d bytes, at most %d", ErrBadQuery, len(k), MaxKeywordBytes)
		}
		searchable := false
		for _, r := range k {
			if unicode.IsControl(r) {
				return "", fmt.Errorf("%w: keyword %q holds a control character", ErrBadQuery, k)
			}
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				searchable = true
			}
		}
		if !searchable {
			return "", fmt.Errorf("%w: keyword %q has no letter or digit to search for", ErrBadQuery, k)
		}
		parts = append(parts, `"`+strings.ReplaceAll(k, `"`, `""`)+`"`)
	}
	return strings.Join(parts, " AND "), nil
}

// Read returns the message id of inbox; a message of another inbox is
// ErrNotFound, as if it did not exist.
func (s *Store) Read(ctx context.Context, inbox, id string) (corpus.Message, error) {
	var m corpus.Message
	var to string
	err := s.db.QueryRowContext(ctx,
		`SELECT id, inbox, date, sender, recipients, subject, body FROM messages WHERE inbox = ? AND id = ?`, inbox, id).
		Scan(&m.ID, &m.Inbox, &m.Date, &m.From, &to, &m.Subject, &m.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("%w: %q is not a message id of this inbox; use an id that search_emails returned", ErrNotFound, id)
	}
	if err != nil {
		return m, fmt.Errorf("email: read %q: %w", id, err)
	}
	m.To = strings.Split(to, ", ")
	return m, nil
}
