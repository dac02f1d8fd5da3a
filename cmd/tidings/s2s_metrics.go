package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidings/tidings/xmpp/s2s"
)

var (
	s2sLinksDesc = prometheus.NewDesc("tidings_xmpp_s2s_links",
		"Live federation links by direction (out: opened here, in: opened by the peer), state (connecting, negotiating, verifying, ready), authentication (external, dialback, none) and whether stanzas go both ways on them (XEP-0288).",
		[]string{"direction", "state", "auth", "bidi"}, nil)
	s2sStanzasDesc  = prometheus.NewDesc("tidings_xmpp_s2s_stanzas_total", "Stanzas between this server and others, by direction (in: accepted from peers; out: queued to peers).", []string{"direction"}, nil)
	s2sBouncesDesc  = prometheus.NewDesc("tidings_xmpp_s2s_bounces_total", "Stanzas for other servers returned to their senders with an error.", nil, nil)
	s2sFailuresDesc = prometheus.NewDesc("tidings_xmpp_s2s_connect_failures_total", "Outbound federation streams that could not be set up.", nil, nil)
)

// s2sCollector exports the federation server's links and counters.
type s2sCollector struct{ s *s2s.Server }

func (c s2sCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- s2sLinksDesc
	ch <- s2sStanzasDesc
	ch <- s2sBouncesDesc
	ch <- s2sFailuresDesc
}

func (c s2sCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ dir, state, auth, bidi string }
	links := map[key]int{}
	for _, l := range c.s.Links() {
		auth := l.Auth
		if auth == "" {
			auth = "none"
		}
		links[key{l.Direction, l.State, auth, strconv.FormatBool(l.Bidi)}]++
	}
	for k, n := range links {
		ch <- prometheus.MustNewConstMetric(s2sLinksDesc, prometheus.GaugeValue, float64(n), k.dir, k.state, k.auth, k.bidi)
	}
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(s2sStanzasDesc, prometheus.CounterValue, float64(st.StanzasIn), "in")
	ch <- prometheus.MustNewConstMetric(s2sStanzasDesc, prometheus.CounterValue, float64(st.StanzasOut), "out")
	ch <- prometheus.MustNewConstMetric(s2sBouncesDesc, prometheus.CounterValue, float64(st.Bounced))
	ch <- prometheus.MustNewConstMetric(s2sFailuresDesc, prometheus.CounterValue, float64(st.Failed))
}
