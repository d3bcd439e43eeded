package audit

import "context"

// Audit records one action given as a flat detail map; it matches the
// master API's Auditor interface so the master can hand its *Log over
// directly. The target is taken from detail["target"], ["tgt"] or ["id"],
// the job id from ["jid"] and the outcome from ["outcome"]; the whole map is
// kept as the entry's detail (not redacted: put secrets in Entry.Args via
// Append instead). An error means the action was not recorded and should be
// refused.
func (l *Log) Audit(ctx context.Context, action, actor string, detail map[string]any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := detail[k].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	_, err := l.Append(Entry{
		Actor:   actor,
		Action:  action,
		Target:  str("target", "tgt", "id"),
		JID:     str("jid"),
		Outcome: str("outcome"),
		Detail:  detail,
	})
	return err
}
