// The chat page over /ws/chat. User text only ever reaches the page through
// textContent. Presence events are applied as set operations, so a notice
// that repeats what the snapshot said changes nothing.
//
// Reconnects by itself (LiveSocket), rejoins, and catches up: it rejoins
// with the offset of the last event it saw (`since`), and the server
// replays exactly what was missed (`recovered: true`). Only if those events
// are no longer kept (`recovered: false`) does it ask the API for the public
// messages after the last one it showed and, when logged in, for its own
// direct messages. A message typed while offline waits in an outbox (shown
// greyed) and is sent once joined.
(() => {
  const $ = (id) => document.getElementById(id);
  const messages = $('messages');
  const online = new Set();
  const shown = new Set(); // ids of the messages on the page
  const outbox = []; // {message, to, element} typed but not yet sent
  const PAGE = 50;
  let me = null;
  let joined = false; // the room confirmed the join (history arrived)
  let everJoined = false; // a later join is a rejoin: catch up
  let lastPublic = null; // newest public message id shown
  let lastDirect = null; // newest direct message id shown
  let lastOffset = null; // offset of the last chat event seen: resume from it
  // A logged-in user chats as their account's e-mail: no prompt.
  const account = document.body.dataset.userEmail || null;

  function span(className, text) {
    const s = document.createElement('span');
    s.className = className;
    s.textContent = text;
    return s;
  }

  function scrollToEnd() {
    messages.scrollTop = messages.scrollHeight;
  }

  function messageItem(m) {
    const li = document.createElement('li');
    li.className = m.to ? 'message direct' : 'message';
    li.dataset.id = m._id;
    const who = m.to ? `${m.user} → ${m.to}` : m.user;
    li.append(span('time', new Date(m.createdAt).toLocaleTimeString()), span('user', who), span('text', m.message));
    return li;
  }

  // Inserts a message in id order (ids grow with time), once.
  function showMessage(m) {
    if (shown.has(m._id)) return;
    shown.add(m._id);
    if (m.to) { if (!lastDirect || m._id > lastDirect) lastDirect = m._id; }
    else if (!lastPublic || m._id > lastPublic) lastPublic = m._id;
    const item = messageItem(m);
    const later = [...messages.querySelectorAll('li.message')].find((li) => li.dataset.id > m._id);
    const pending = messages.querySelector('li.pending');
    messages.insertBefore(item, later || pending || null);
    if (!later) scrollToEnd();
  }

  function notice(text) {
    const li = document.createElement('li');
    li.className = 'notice';
    li.append(span('text', text));
    messages.insertBefore(li, messages.querySelector('li.pending'));
    scrollToEnd();
  }

  function renderOnline(total) {
    $('online').replaceChildren(...[...online].sort().map((email) => {
      const li = document.createElement('li');
      li.textContent = email === me ? `${email} (you)` : email;
      return li;
    }));
    $('online-count').textContent = `(${total ?? online.size})`;
  }

  async function getJson(path) {
    const response = await fetch(path);
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return (await response.json()).payload;
  }

  // Everything missed since `after`, page by page.
  async function catchUp(path, after, limit = 100) {
    let cursor = after;
    for (;;) {
      const page = await getJson(`${path}?limit=${limit}${cursor ? `&after=${cursor}` : ''}`);
      page.forEach(showMessage);
      if (page.length < limit) return;
      cursor = page[page.length - 1]._id;
    }
  }

  async function loadOlder() {
    const oldest = [...messages.querySelectorAll('li.message:not(.direct)')][0];
    if (!oldest) return;
    const page = await getJson(`/api/messages?limit=${PAGE}&before=${oldest.dataset.id}`);
    const anchor = messages.firstChild;
    page.forEach((m) => {
      if (shown.has(m._id)) return;
      shown.add(m._id);
      messages.insertBefore(messageItem(m), anchor);
    });
    $('load-older').hidden = page.length < PAGE;
  }

  function flushOutbox() {
    while (joined && outbox.length > 0) {
      const { message, to, element } = outbox[0];
      if (!live.send('message', { message, to })) return;
      outbox.shift();
      element.remove();
    }
  }

  function missed(error) {
    $('chat-error').textContent = `Some messages could not be loaded (${error.message}); reload the page to see them.`;
  }

  function onHistory(history) {
    const rejoin = everJoined;
    everJoined = true;
    // What was seen before this history: catch up from there.
    const publicCursor = lastPublic || '0'.repeat(24);
    const directCursor = lastDirect;
    history.forEach(showMessage);
    if (!rejoin) $('load-older').hidden = history.length < PAGE;
    joined = true;
    if (rejoin) {
      // The history frame holds only the newest; fetch all that was missed
      // (from the very first message if none was ever shown).
      catchUp('/api/messages', publicCursor).catch(missed);
    }
    if (account) catchUp('/api/messages/direct', directCursor).catch(missed);
    flushOutbox();
  }

  const live = window.LiveSocket('/ws/chat', {
    statusElement: $('connection'),
    onOpen() {
      joined = false;
      if (me) live.send('join', everJoined && lastOffset ? { user: me, since: lastOffset } : { user: me });
    },
    onEvent(event, data, offset) {
      if (offset && (event === 'history' || event === 'message')) lastOffset = offset;
      switch (event) {
        case 'recovered':
          // Every missed message was replayed: nothing to fetch. (If not,
          // the history follows, and the API fills the gap.)
          if (data.recovered) {
            joined = true;
            flushOutbox();
          }
          break;
        case 'history':
          onHistory(data);
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
          // A refused join (e.g. an account's e-mail): ask again.
          if (!joined && data.field === 'user' && !account) showJoinPanel();
          break;
        default:
          break;
      }
    },
  });

  function showChatPanel(email) {
    me = email;
    $('me').textContent = me;
    $('join-panel').hidden = true;
    $('chat-panel').hidden = false;
  }

  function showJoinPanel() {
    me = null;
    joined = false;
    online.clear();
    $('chat-panel').hidden = true;
    $('join-panel').hidden = false;
  }

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('chat-error').textContent = '';
    showChatPanel($('email').value.trim().toLowerCase());
    live.send('join', { user: me });
  });

  $('message-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const message = $('message').value;
    const to = $('to').value.trim() || null;
    $('chat-error').textContent = '';
    $('message').value = '';
    if (joined && live.send('message', { message, to })) return;
    // Offline (or not joined yet): keep it, visibly, and send it later.
    const element = document.createElement('li');
    element.className = 'message pending';
    element.append(span('time', new Date().toLocaleTimeString()), span('user', me), span('text', message));
    messages.append(element);
    scrollToEnd();
    outbox.push({ message, to, element });
  });

  $('load-older').addEventListener('click', () => loadOlder().catch(() => {}));

  $('leave').addEventListener('click', () => {
    live.send('leave');
    showJoinPanel();
  });

  if (account) {
    $('email').value = account;
    $('email').readOnly = true;
    showChatPanel(account);
  }
})();
