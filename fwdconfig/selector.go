package fwdconfig

import (
	"fmt"
	"strconv"
)

// checkSelector parses a label selector as k8s.io/apimachinery/pkg/labels.Parse
// does (the same lexer and grammar, so the same strings are accepted) and
// returns the number of requirements, or why it is not a selector. The
// forwarder parses the selector again with apimachinery to use it; this
// copy only lets the config model validate without linking Kubernetes code.
// FuzzSelectorMatchesApimachinery holds the two to the same answers.
//
//	<selector>    ::= <requirement> | <requirement> "," <selector>
//	<requirement> ::= [!] KEY [ ("in"|"notin") "(" VALUES ")" | ("="|"=="|"!="|">"|"<") VALUE ]
func checkSelector(s string) (int, error) {
	p := selParser{items: lexSelector(s)}
	return p.parse()
}

type selTok int

const (
	tokError selTok = iota
	tokEnd
	tokClosePar
	tokComma
	tokNot // "!" (does not exist)
	tokDoubleEq
	tokEq
	tokGT
	tokID
	tokIn
	tokLT
	tokNotEq
	tokNotIn
	tokOpenPar
)

var selTokens = map[string]selTok{
	")": tokClosePar, ",": tokComma, "!": tokNot, "==": tokDoubleEq, "=": tokEq,
	">": tokGT, "in": tokIn, "<": tokLT, "!=": tokNotEq, "notin": tokNotIn, "(": tokOpenPar,
}

type selItem struct {
	tok selTok
	lit string
}

func selSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

func selSpecial(b byte) bool {
	switch b {
	case '=', '!', '(', ')', ',', '>', '<':
		return true
	}
	return false
}

// lexSelector splits s into tokens, ending with tokEnd. Like
// apimachinery's lexer it reads a NUL byte as the end of a token.
func lexSelector(s string) []selItem {
	pos := 0
	read := func() byte {
		if pos < len(s) {
			pos++
			return s[pos-1]
		}
		return 0
	}
	var items []selItem
	for {
		ch := read()
		for selSpace(ch) {
			ch = read()
		}
		var it selItem
		switch {
		case ch == 0:
			it = selItem{tokEnd, ""}
		case selSpecial(ch):
			pos--
			// The longest run of symbols that is still an operator.
			var buf []byte
			last := selItem{}
			for {
				c := read()
				if c == 0 {
					break
				}
				if !selSpecial(c) {
					pos--
					break
				}
				buf = append(buf, c)
				if t, ok := selTokens[string(buf)]; ok {
					last = selItem{t, string(buf)}
				} else if last.tok != tokError {
					pos--
					break
				}
			}
			it = last
			if it.tok == tokError {
				it.lit = string(buf)
			}
		default:
			pos--
			var buf []byte
			for {
				c := read()
				if c == 0 {
					break
				}
				if selSpecial(c) || selSpace(c) {
					pos--
					break
				}
				buf = append(buf, c)
			}
			it = selItem{tokID, string(buf)}
			if t, ok := selTokens[it.lit]; ok {
				it.tok = t
			}
		}
		items = append(items, it)
		if it.tok == tokEnd || it.tok == tokError {
			if it.tok == tokError {
				items = append(items, selItem{tokEnd, ""})
			}
			return items
		}
	}
}

type selParser struct {
	items []selItem
	pos   int
}

// peek and next read "in" and "notin" as values when inOp is false, as
// apimachinery does everywhere but in the operator position.
func (p *selParser) peek(inOp bool) (selTok, string) {
	return p.tokAt(p.pos, inOp)
}

func (p *selParser) next(inOp bool) (selTok, string) {
	p.pos++
	return p.tokAt(p.pos-1, inOp)
}

func (p *selParser) tokAt(i int, inOp bool) (selTok, string) {
	it := p.items[min(i, len(p.items)-1)]
	if !inOp && (it.tok == tokIn || it.tok == tokNotIn) {
		return tokID, it.lit
	}
	return it.tok, it.lit
}

func (p *selParser) parse() (int, error) {
	n := 0
	for {
		switch tok, lit := p.peek(false); tok {
		case tokID, tokNot:
			if err := p.requirement(); err != nil {
				return 0, err
			}
			n++
			switch t, l := p.next(false); t {
			case tokEnd:
				return n, nil
			case tokComma:
				if t2, l2 := p.peek(false); t2 != tokID && t2 != tokNot {
					return 0, fmt.Errorf("found %s after ',', expected a label key", quoteTok(t2, l2))
				}
			default:
				return 0, fmt.Errorf("found %s, expected ',' or the end", quoteTok(t, l))
			}
		case tokEnd:
			return n, nil
		default:
			return 0, fmt.Errorf("found %s, expected '!' or a label key", quoteTok(tok, lit))
		}
	}
}

func quoteTok(t selTok, lit string) string {
	switch {
	case t == tokEnd:
		return "the end"
	case t == tokError:
		return fmt.Sprintf("%q", lit)
	}
	return "'" + lit + "'"
}

func (p *selParser) requirement() error {
	notExists := false
	tok, key := p.next(false)
	if tok == tokNot {
		notExists = true
		tok, key = p.next(false)
	}
	if tok != tokID {
		return fmt.Errorf("found %s, expected a label key", quoteTok(tok, key))
	}
	if msg := checkLabelKey(key); msg != "" {
		return fmt.Errorf("label key %q: %s", key, msg)
	}
	if t, _ := p.peek(false); notExists || t == tokEnd || t == tokComma {
		return nil // key exists / does not exist
	}

	var values []string
	op, lit := p.next(true)
	switch op {
	case tokIn, tokNotIn:
		vs, err := p.valueSet()
		if err != nil {
			return err
		}
		values = vs
	case tokEq, tokDoubleEq, tokNotEq, tokGT, tokLT:
		switch t, l := p.peek(false); t {
		case tokEnd, tokComma:
			values = []string{""}
		case tokID:
			p.next(false)
			values = []string{l}
		default:
			p.next(false)
			return fmt.Errorf("found %s after %s, expected a value", quoteTok(t, l), key+lit)
		}
		if op == tokGT || op == tokLT {
			if _, err := strconv.ParseInt(values[0], 10, 64); err != nil {
				return fmt.Errorf("%s%s%s: the value must be an integer", key, lit, values[0])
			}
		}
	default:
		return fmt.Errorf("found %s after %q, expected one of in, notin, =, ==, !=, >, <", quoteTok(op, lit), key)
	}
	for _, v := range values {
		if msg := checkLabelValue(v); msg != "" {
			return fmt.Errorf("value %q of label %q %s", v, key, msg)
		}
	}
	return nil
}

// valueSet parses "(" [values] ")" after in/notin; "()" and empty
// entries are the empty value.
func (p *selParser) valueSet() ([]string, error) {
	if tok, lit := p.next(false); tok != tokOpenPar {
		return nil, fmt.Errorf("found %s, expected '('", quoteTok(tok, lit))
	}
	switch tok, lit := p.peek(false); tok {
	case tokClosePar:
		p.next(false)
		return []string{""}, nil
	case tokID, tokComma:
	default:
		return nil, fmt.Errorf("found %s, expected ',', ')' or a value", quoteTok(tok, lit))
	}
	var vs []string
	for {
		tok, lit := p.next(false)
		switch tok {
		case tokID:
			vs = append(vs, lit)
			switch t2, l2 := p.peek(false); t2 {
			case tokComma:
				continue
			case tokClosePar:
				p.next(false)
				return vs, nil
			default:
				return nil, fmt.Errorf("found %s, expected ',' or ')'", quoteTok(t2, l2))
			}
		case tokComma:
			if len(vs) == 0 {
				vs = append(vs, "") // "(,"
			}
			switch t2, _ := p.peek(false); t2 {
			case tokClosePar:
				p.next(false)
				return append(vs, ""), nil // ",)"
			case tokComma:
				vs = append(vs, "") // ",,"
			}
		default:
			return nil, fmt.Errorf("found %s, expected ',' or a value", quoteTok(tok, lit))
		}
	}
}
