// Package proto holds brine's wire contract: the types that cross NATS
// between master, minions and operators, the subjects they travel on, and
// the envelope signing that lets a minion trust a job. It does no
// networking, so both daemons and every tool can share it without pulling
// in a transport.
package proto
