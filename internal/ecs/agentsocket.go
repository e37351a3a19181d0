package ecs

import (
	"context"
	"time"

	"github.com/gorilla/websocket"
)

// agentSocketWriter is an agent socket's only writer (ACS or TCS): what the
// session queues on out, and every interval a heartbeat message (beat) and
// a websocket ping; the agent redials after about a minute without a
// message, and its pongs prove it alive to a reader that hears nothing
// else. When ctx ends it flushes what is queued (e.g. the error saying why
// the socket closes), closes the socket and so unblocks the reader; a
// failed write closes it too, and cancel ends the session.
func agentSocketWriter(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, out <-chan []byte, interval time.Duration, beat func() []byte) {
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	write := func(b []byte) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(interval))
		return conn.WriteMessage(websocket.TextMessage, b) == nil
	}
	for {
		select {
		case <-ctx.Done():
			for flushed := false; !flushed; {
				select {
				case b := <-out:
					flushed = !write(b)
				default:
					flushed = true
				}
			}
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			conn.Close()
			return
		case b := <-out:
			if !write(b) {
				conn.Close()
				return
			}
		case <-tick.C:
			if !write(beat()) || conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(interval)) != nil {
				conn.Close()
				return
			}
		}
	}
}
