package sieve

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

const benchEML = `Return-Path: <alice@example.org>
Received: from mx.example.org (mx.example.org [192.0.2.1]) by mx.example.com; Mon, 2 Jan 2023 10:00:00 +0000
From: Alice Example <alice@example.org>
To: Bob <bob@example.com>, team@example.com
Cc: carol@example.net
Subject: Re: [project-x] Quarterly numbers and the lunch on Friday
Message-ID: <q1-2023@example.org>
Date: Mon, 02 Jan 2023 10:00:00 +0000
List-Id: Project X <project-x.lists.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hi Bob,

the quarterly numbers are attached. Shall we discuss them over lunch on
Friday? The usual place at noon.

Alice
`

// bench50 is a realistic 50-rule script: mailing lists, senders, subjects,
// flags, variables and a vacation at the end.
var bench50 = func() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "envelope", "imap4flags", "variables", "relational",
 "comparator-i;ascii-numeric", "subaddress", "copy", "mailbox", "body", "vacation"];
`)
	for i := 0; i < 15; i++ {
		fmt.Fprintf(&b, "if header :contains \"list-id\" \"list%d.example.org\" { fileinto \"Lists/list%d\"; stop; }\n", i, i)
	}
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "if address :is :domain \"from\" \"sender%d.example\" { fileinto \"Vendors/%d\"; }\n", i, i)
	}
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "if header :matches \"subject\" \"*[ticket-%d]*\" { addflag \"ticket%d\"; }\n", i, i)
	}
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "if envelope :detail \"to\" \"tag%d\" { fileinto :create \"Tags/%d\"; }\n", i, i)
	}
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "if anyof (header :contains \"x-spam-flag\" \"YES\", header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"%d\") { fileinto \"Junk\"; stop; }\n", 10+i)
	}
	b.WriteString(`if header :matches "subject" "Re: [*] *" { set "list" "${1}"; set :lower "topic" "${2}"; }
if string :is "${list}" "project-x" { addflag "\\Flagged"; fileinto :copy "Projects/${list}"; }
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { addflag "group"; }
if size :over 5M { fileinto "Large"; }
if allof (exists "list-id", not header :contains "to" "bob@example.com") { fileinto "Lists/other"; }
if body :text :contains "unsubscribe" { addflag "newsletter"; }
if header :contains "from" "boss@example.com" { addflag "\\Flagged"; }
if envelope :is "from" "" { fileinto "Bounces"; stop; }
if header :is "precedence" ["bulk", "list"] { addflag "bulk"; }
vacation :days 7 :subject "Away" "I am away until Monday.";
`)
	return b.String()
}()

// BenchmarkRun50Rules parses once and runs the 50-rule script per op.
func BenchmarkRun50Rules(b *testing.B) {
	s := mustParse(b, bench50, Options{})
	m := mustMessage(b, benchEML)
	env := &Env{From: "alice@example.org", To: "bob@example.com", User: "bob@example.com", Msg: m}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Run(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse50Rules(b *testing.B) {
	src := []byte(bench50)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
