// Live product list over /ws/products. Every user-provided value is put in
// the page with textContent, never as HTML. Events are applied by _id, so a
// repeated event (e.g. replayed after the snapshot) changes nothing.
(() => {
  const list = document.getElementById('product-list');
  const count = document.getElementById('count');
  const status = document.getElementById('connection');
  const errorBox = document.getElementById('form-error');
  const products = new Map();
  let socket;

  function render() {
    const sorted = [...products.values()].sort((a, b) => (a._id < b._id ? 1 : -1));
    list.replaceChildren(...sorted.map(item));
    count.textContent = `(${products.size})`;
  }

  function item(product) {
    const li = document.createElement('li');
    li.dataset.id = product._id;
    const title = document.createElement('span');
    title.className = 'title';
    title.textContent = product.title;
    const details = document.createElement('span');
    details.textContent = `$${product.price} · ${product.category} · stock ${product.stock}`;
    const id = document.createElement('code');
    id.textContent = product._id;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Delete';
    remove.addEventListener('click', () => send('product:delete', { _id: product._id }));
    li.append(title, details, id, remove);
    return li;
  }

  function send(event, data) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      errorBox.textContent = 'Not connected; retrying…';
      return;
    }
    errorBox.textContent = '';
    socket.send(JSON.stringify({ event, data }));
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/ws/products`);
    socket.addEventListener('open', () => { status.textContent = 'live'; status.classList.add('online'); });
    socket.addEventListener('close', () => {
      status.textContent = 'reconnecting…';
      status.classList.remove('online');
      setTimeout(connect, 1000);
    });
    socket.addEventListener('message', (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      const { event, data } = frame;
      if (event === 'products') {
        products.clear();
        data.forEach((p) => products.set(p._id, p));
      } else if (event === 'product:created' || event === 'product:updated') {
        products.set(data._id, data);
      } else if (event === 'product:deleted') {
        products.delete(data._id);
      } else if (event === 'error') {
        errorBox.textContent = data.error;
        return;
      } else {
        return;
      }
      render();
    });
  }

  document.getElementById('create-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    send('product:create', {
      title: form.get('title'),
      description: form.get('description'),
      code: form.get('code'),
      price: Number(form.get('price')),
      stock: Number(form.get('stock')),
      category: form.get('category'),
    });
    e.target.reset();
  });

  document.getElementById('delete-form').addEventListener('submit', (e) => {
    e.preventDefault();
    send('product:delete', { _id: new FormData(e.target).get('_id').trim() });
    e.target.reset();
  });

  connect();
})();
