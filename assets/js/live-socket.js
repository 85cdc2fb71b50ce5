// A WebSocket to this server that reconnects by itself, for every page.
// Backoff: 0.5 s doubling to 30 s, each wait drawn between half and all of
// it (jitter), so a restarted server is not hit by every page at once; the
// count starts over once a connection opens. A 1001 close ("going away":
// the server is restarting) is just one more reason to reconnect.
// The state is shown in `statusElement` (text, and data-state live/offline).
// `path` may be a function, asked at every (re)connect: a page resumes
// from the offset it saw last with `?since=`. `onEvent(event, data, offset)`
// gets the event's stream offset, if it has one.
window.LiveSocket = (path, { onOpen, onEvent, statusElement }) => {
  let socket = null;
  let attempt = 0;

  function show(text, live) {
    if (!statusElement) return;
    statusElement.textContent = text;
    statusElement.dataset.state = live ? 'live' : 'offline';
    
  }

  function nextDelay() {
    const ceiling = Math.min(30000, 500 * 2 ** attempt);
    attempt += 1;
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function countdown(reason, delay) {
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0 || (socket && socket.readyState !== WebSocket.CLOSED)) return;
      show(`${reason}; reconnecting in ${left}s…`, false);
      setTimeout(tick, 1000);
    };
    tick();
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const target = typeof path === 'function' ? path() : path;
    socket = new WebSocket(`${scheme}://${location.host}${target}`);
    show('connecting…', false);
    socket.addEventListener('open', () => {
      attempt = 0;
      show('live', true);
      if (onOpen) onOpen();
    });
    socket.addEventListener('message', (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      onEvent(frame.event, frame.data, frame.offset);
    });
    socket.addEventListener('close', (event) => {
      const delay = nextDelay();
      const reason = event.code === 1001 ? 'server restarting' : 'disconnected';
      countdown(reason, delay);
      setTimeout(connect, delay);
    });
  }

  connect();
  return {
    // Sends an event if connected; false otherwise (the caller keeps it).
    send(event, data) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify({ event, data }));
      return true;
    },
  };
};
