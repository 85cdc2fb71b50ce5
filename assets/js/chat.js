// The chat page over /ws/chat. User text only ever reaches the page through
// textContent. Presence events are applied as set operations, so a notice
// that repeats what the snapshot said changes nothing.
(() => {
  const $ = (id) => document.getElementById(id);
  const messages = $('messages');
  const online = new Set();
  let socket;
  let me = null;
  // A logged-in user chats as their account's e-mail: no prompt.
  const account = document.body.dataset.userEmail || null;

  function line(className, ...parts) {
    const li = document.createElement('li');
    li.className = className;
    li.append(...parts);
    messages.append(li);
    messages.scrollTop = messages.scrollHeight;
  }

  function span(className, text) {
    const s = document.createElement('span');
    s.className = className;
    s.textContent = text;
    return s;
  }

  function showMessage(m) {
    const time = new Date(m.createdAt).toLocaleTimeString();
    const who = m.to ? `${m.user} → ${m.to}` : m.user;
    line(m.to ? 'message direct' : 'message', span('time', time), span('user', who), span('text', m.message));
  }

  function notice(text) {
    line('notice', span('text', text));
  }

  function renderOnline(total) {
    const list = $('online');
    list.replaceChildren(...[...online].sort().map((email) => {
      const li = document.createElement('li');
      li.textContent = email === me ? `${email} (you)` : email;
      return li;
    }));
    $('online-count').textContent = `(${total ?? online.size})`;
  }

  function send(event, data) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ event, data }));
    }
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/ws/chat`);
    socket.addEventListener('open', () => {
      $('connection').textContent = 'live';
      $('connection').classList.add('online');
      if (me) send('join', { user: me });
    });
    socket.addEventListener('close', () => {
      $('connection').textContent = 'reconnecting…';
      $('connection').classList.remove('online');
      setTimeout(connect, 1000);
    });
    socket.addEventListener('message', (frame) => {
      let parsed;
      try { parsed = JSON.parse(frame.data); } catch { return; }
      const { event, data } = parsed;
      switch (event) {
        case 'history':
          messages.replaceChildren();
          data.forEach(showMessage);
          break;
        case 'presence':
          online.clear();
          data.users.forEach((u) => online.add(u));
          renderOnline(data.online);
          break;
        case 'presence:diff':
          data.joined.filter((u) => u !== me && !online.has(u)).forEach((u) => notice(`${u} joined`));
          data.left.filter((u) => online.has(u)).forEach((u) => notice(`${u} left`));
          data.joined.forEach((u) => online.add(u));
          data.left.forEach((u) => online.delete(u));
          renderOnline(data.online);
          break;
        case 'message':
          showMessage(data);
          break;
        case 'error':
          $('chat-error').textContent = data.error;
          break;
        default:
          break;
      }
    });
  }

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    enterAs($('email').value.trim().toLowerCase());
    $('chat-error').textContent = '';
    send('join', { user: me });
  });

  function enterAs(email) {
    me = email;
    $('me').textContent = me;
    $('join-panel').hidden = true;
    $('chat-panel').hidden = false;
  }

  $('message-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('message').value;
    const to = $('to').value.trim();
    $('chat-error').textContent = '';
    send('message', { message: text, to: to || null });
    $('message').value = '';
  });

  $('leave').addEventListener('click', () => {
    send('leave');
    me = null;
    online.clear();
    $('chat-panel').hidden = true;
    $('join-panel').hidden = false;
  });

  if (account) {
    $('email').value = account;
    $('email').readOnly = true;
    enterAs(account);
  }
  connect();
})();
