package server

// EventMessageTypes counts the websocket message types whose events
// websocketConn writes without json.Marshal (websocket_conn.go).
func EventMessageTypes() int {
	n := 0
	messageTypes.Range(func(_, f any) bool {
		if f.(messageFields).ok {
			n++
		}
		return true
	})
	return n
}

// DeadlineMessage is what a request past its deadline answers.
const DeadlineMessage = deadlineMessage
