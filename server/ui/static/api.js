// The API client: bearer token from sessionStorage, problem+json errors,
// and Server-Sent Events read with fetch (EventSource cannot send the
// Authorization header, and tokens must not go into URLs).

const KEY = 'sanmob.token';

export const token = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// APIError carries the answer's problem+json; message is its detail.
export class APIError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// onUnauthorized is called on any 401 (the app signs out).
export let onUnauthorized = () => {};
export function setOnUnauthorized(f) { onUnauthorized = f; }

function headers(accept) {
  return { Authorization: `Bearer ${token.get()}`, Accept: accept };
}

async function fail(res) {
  let p;
  try { p = await res.json(); } catch { p = { title: res.statusText }; }
  if (res.status === 401) onUnauthorized(p);
  return new APIError(res.status, p);
}

// api calls path and returns the decoded JSON (null for 204).
export async function api(path, { method = 'GET', body, signal } = {}) {
  const h = headers('application/json');
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers: h, signal,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await fail(res);
  return res.status === 204 ? null : res.json();
}

// parseEvent reads one SSE block; null for a comment-only block.
export function parseEvent(block) {
  let event = 'message', id = '';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return null;
  return { event, id, data: JSON.parse(data.join('\n')) };
}

// stream reads the event stream at path, calling onEvent({event, id, data})
// for each event, until the server ends it or signal aborts. It resolves
// when the stream ends and rejects with an APIError when it is refused.
export async function stream(path, onEvent, signal) {
  const res = await fetch(path, { headers: headers('text/event-stream'), signal });
  if (!res.ok) throw await fail(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
      const ev = parseEvent(block);
      if (ev) onEvent(ev);
    }
  }
}

// follow keeps a stream open: when the server ends it (a resync after a
// slow read, a restart) it is opened again after a second, from a fresh
// snapshot. onError sees refusals; it stops on abort or on a 4xx.
export function follow(path, onEvent, signal, onError) {
  (async () => {
    while (!signal.aborted) {
      try {
        await stream(path, onEvent, signal);
      } catch (e) {
        if (signal.aborted) return;
        onError(e);
        if (e instanceof APIError && e.status < 500) return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
}
