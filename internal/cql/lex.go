package cql

import (
	"fmt"
	"strconv"
	"strings"
)

// parser reads one expression. The language's tokens depend on where they
// stand (t2.* is a word after =~, && ends one), so the parser scans the
// source directly instead of through a separate token stream.
type parser struct {
	src string
	pos int // byte offset of the next unread byte
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// errorf returns a *ParseError at byte offset off.
func (p *parser) errorf(off int, format string, args ...any) *ParseError {
	return &ParseError{Pos: off + 1, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

// consume skips b if it is next.
func (p *parser) consume(b byte) bool {
	if p.pos < len(p.src) && p.src[p.pos] == b {
		p.pos++
		return true
	}
	return false
}

// hasPrefix reports whether the unread input starts with s.
func (p *parser) hasPrefix(s string) bool { return strings.HasPrefix(p.src[p.pos:], s) }

// Bytes that end a word wherever it stands, and in addition those that end a
// subject or keyword (so attribute:x==y splits into three).
const (
	wordStop    = "()[],'\""
	subjectStop = wordStop + "=!<>~&|"
)

// endOfName returns where a subject or keyword that starts at off ends.
func (p *parser) endOfName(off int) int {
	for off < len(p.src) {
		c := p.src[off]
		if isSpace(c) || strings.IndexByte(subjectStop, c) >= 0 {
			break
		}
		off++
	}
	return off
}

// peekName returns the subject or keyword at the read position without
// consuming it.
func (p *parser) peekName() string { return p.src[p.pos:p.endOfName(p.pos)] }

// endOfValue returns where a bare value that starts at off ends: at space, at
// a delimiter, or at && or ||, which may follow a value without space.
func (p *parser) endOfValue(off int) int {
	for off < len(p.src) {
		c := p.src[off]
		if isSpace(c) || strings.IndexByte(wordStop, c) >= 0 {
			break
		}
		if (c == '&' || c == '|') && off+1 < len(p.src) && p.src[off+1] == c {
			break
		}
		off++
	}
	return off
}

// isBare reports whether v reads back as itself when written without quotes,
// which is when endOfValue would take all of it.
func isBare(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isSpace(c) || strings.IndexByte(wordStop, c) >= 0 {
			return false
		}
	}
	return !strings.Contains(v, "&&") && !strings.Contains(v, "||")
}

// readValue reads a quoted or bare value. ok is false, with the read position
// unchanged, when no value starts there.
func (p *parser) readValue() (v string, ok bool, err error) {
	if p.eof() {
		return "", false, nil
	}
	switch c := p.src[p.pos]; {
	case c == '\'' || c == '"':
		end := strings.IndexByte(p.src[p.pos+1:], c)
		if end < 0 {
			return "", false, p.errorf(p.pos, "the quoted value that starts here has no closing %c", c)
		}
		v = p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return v, true, nil
	case strings.IndexByte(wordStop, c) >= 0:
		return "", false, nil
	}
	end := p.endOfValue(p.pos)
	if end == p.pos { // && or || where a value should be
		return "", false, nil
	}
	v = p.src[p.pos:end]
	p.pos = end
	return v, true, nil
}

// found describes the input at off for an error message: the token there,
// quoted, or "the end of the expression".
func (p *parser) found(off int) string {
	if off >= len(p.src) {
		return "the end of the expression"
	}
	end := off
	switch c := p.src[off]; {
	case c == '\'' || c == '"':
		end = off + 1 + strings.IndexByte(p.src[off+1:], c) + 1
		if end <= off+1 {
			end = len(p.src)
		}
	case strings.IndexByte("()[],", c) >= 0:
		end = off + 1
	case strings.IndexByte("=!<>~&|", c) >= 0:
		for end < len(p.src) && strings.IndexByte("=!<>~&|", p.src[end]) >= 0 {
			end++
		}
	default:
		end = p.endOfName(off)
	}
	tok := p.src[off:end]
	const maxTok = 40
	if len(tok) > maxTok {
		tok = tok[:maxTok] + "..."
	}
	return strconv.Quote(tok)
}
