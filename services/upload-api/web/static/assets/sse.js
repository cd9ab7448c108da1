// Server-sent events over fetch(): EventSource cannot send an
// Authorization header, so the stream is a plain streamed GET whose body
// is parsed here (the text/event-stream format of the HTML standard).

import { authHeaders } from './api.js';

/**
 * SSEParser turns chunks of text into events {event, data, id}. Comment
 * lines (": heartbeat") are ignored; "retry:" sets retryMs.
 */
export class SSEParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.data = [];
    this.event = '';
    this.lastId = '';
    this.retryMs = 0;
  }

  push(chunk) {
    this.buf += chunk;
    let i;
    while ((i = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, i);
      const nl = this.buf[i] === '\r' && this.buf[i + 1] === '\n' ? 2 : 1;
      // A lone \r at the very end may be the first half of \r\n.
      if (this.buf[i] === '\r' && i + 1 === this.buf.length) break;
      this.buf = this.buf.slice(i + nl);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length) {
        this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event': this.event = value; break;
      case 'data': this.data.push(value); break;
      case 'id': if (!value.includes('\0')) this.lastId = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.retryMs = Number(value); break;
      default: break;
    }
  }
}

/**
 * stream follows path until signal aborts: each event goes to onEvent;
 * when the stream ends or fails it reconnects after a growing delay
 * (1 s doubling to 30 s, reset by an event). A 404/401/403 or a 204 ends
 * it for good (onEnd is called with the status). onOpen is called on each
 * connection.
 */
export function stream(path, { signal, onEvent, onOpen, onEnd, reconnect = true }) {
  let delay = 1000;
  const run = async () => {
    while (!signal.aborted) {
      let status = 0;
      try {
        const resp = await fetch(path, { headers: authHeaders({ Accept: 'text/event-stream' }), signal, cache: 'no-store' });
        status = resp.status;
        if (resp.status === 204 || resp.status === 401 || resp.status === 403 || resp.status === 404) {
          if (onEnd) onEnd(resp.status);
          return;
        }
        if (resp.ok && resp.body) {
          if (onOpen) onOpen();
          const parser = new SSEParser((ev) => { delay = 1000; onEvent(ev); });
          const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.push(value);
          }
          if (parser.retryMs) delay = Math.max(delay, parser.retryMs);
        }
      } catch (err) {
        if (signal.aborted) return;
      }
      if (!reconnect) { if (onEnd) onEnd(status); return; }
      if (signal.aborted) return;
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 30000);
    }
  };
  run();
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
