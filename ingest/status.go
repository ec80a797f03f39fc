package ingest

// StatusOf is a feed's health from its spec and stored state: what the
// scheduler reports, and what a dashboard process without a scheduler
// reads from the state the ingest processes store.
func StatusOf(spec FeedSpec, st FeedState) FeedStatus {
	return FeedStatus{
		ID: spec.ID, Name: spec.Name, URL: spec.URL, Source: spec.Source,
		Interval:            spec.Interval,
		LastAttempt:         st.LastAttempt,
		LastSuccess:         st.LastSuccess,
		NextPoll:            st.NextPoll,
		LastError:           st.LastError,
		ConsecutiveFailures: st.ConsecutiveFailures,
		ItemsSeen:           st.ItemsSeen,
		Healthy:             st.ConsecutiveFailures < unhealthyAfter,
	}
}
